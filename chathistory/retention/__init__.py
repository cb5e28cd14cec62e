"""Retention and privacy: policies applied, history deleted on demand, content masked
(docs/retention.md). Modules: redaction (patterns), policy (which applies), apply (the
nightly pass), delete (a device's whole history), tasks and schedule (Celery beat)."""
