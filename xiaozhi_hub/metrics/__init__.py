"""Prometheus metrics: each process's registry, its publishing to Redis, and `/metrics`.

The endpoint pool runs in Celery workers, the sync in their task processes and
the report ingest in the web processes; `/metrics` is answered by one web
process. So every process that records numbers keeps its own registry
(process.py) and, when REDIS_URL is set, publishes it to Redis every
HUB_METRICS_PUBLISH_INTERVAL seconds with a TTL (publisher.py); the web process
answering a scrape merges the published snapshots with its own registry into
one family per metric, each sample labelled with its `worker` (merge.py), and
adds what it reads at scrape time (database.py: sync lag, alerts firing).
Without Redis (runhub) the pool lives in the answering process: its registry
is served directly. docs/metrics.md has the design and every metric.

The core imports no app: the apps define their instruments (on the registry
`PerProcess` hands them) and the database gauges name models as strings.
"""
