"""The endpoint pool as a background runtime service (`runtime.register("endpoint-pool")`).

It runs in the Celery worker's main process and in `runhub`, and composes the
plain-asyncio runtimes (endpoints/pool, endpoints/upstreams) with the database:

- service.py: life cycle, the lease loop and the reconcile of rows into configs;
- control.py: the answers to control messages (a table of handlers) and the
  Redis subscriber that delivers them;
- status.py: endpoint status changes written and broadcast at once, counters
  at most once a second;
- upstream_reports.py: tools listed upstream, server status and the tool-call
  log (batched, pruned on the worker's own cadence);
- db.py: the one thread that does all ORM work, never the event loop.
"""

from .service import PoolWorkerService, run_endpoint_pool

__all__ = ["PoolWorkerService", "run_endpoint_pool"]
