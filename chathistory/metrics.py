"""The chat-history hub's Prometheus numbers: sync runs and report ingest.

Counted in the process that does the work (a Celery task process for the
sync, a web process for the reports) and published from there
(xiaozhi_hub/metrics). The sync's lag and last success are read from the
database at scrape time instead (xiaozhi_hub/metrics/database.py): they are
the deployment's, not a process's.
"""

from __future__ import annotations

import functools

from django.http import HttpResponse
from prometheus_client import CollectorRegistry, Counter

from xiaozhi_hub.metrics.process import PerProcess

# The report endpoint's answers (chathistory/api/ingest.py) by HTTP status.
INGEST_OUTCOMES = {
    200: "accepted",
    400: "invalid",
    401: "unauthorized",
    403: "disabled",
    413: "too_large",
    503: "error",
}


class ChatMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.sync_runs = Counter(
            "xiaozhi_hub_sync_runs_total",
            "Chat sync runs ended, by outcome (success, failed, skipped).",
            ("outcome",),
            registry=registry,
        )
        self.sync_rows = Counter(
            "xiaozhi_hub_sync_rows_total",
            "Source rows the chat sync read, wrote and skipped.",
            ("kind",),
            registry=registry,
        )
        self.ingest = Counter(
            "xiaozhi_hub_report_ingest_total",
            "Chat reports answered by the report endpoint, by outcome.",
            ("outcome",),
            registry=registry,
        )


_metrics: PerProcess[ChatMetrics] = PerProcess(ChatMetrics)


def sync_run_counted(*, status: str, rows_read: int, rows_written: int, rows_skipped: int) -> None:
    metrics = _metrics.get()
    if metrics is None:
        return
    metrics.sync_runs.labels(status).inc()
    for kind, rows in (("read", rows_read), ("written", rows_written), ("skipped", rows_skipped)):
        metrics.sync_rows.labels(kind).inc(rows)


def ingest_counted(post):
    """Count each answer of the report view's `post` by outcome."""

    @functools.wraps(post)
    def counted(view, request, *args, **kwargs) -> HttpResponse:
        outcome = "error"  # an exception: Django answers 500
        try:
            response = post(view, request, *args, **kwargs)
            outcome = INGEST_OUTCOMES.get(response.status_code, "other")
            return response
        finally:
            metrics = _metrics.get()
            if metrics is not None:
                metrics.ingest.labels(outcome).inc()

    return counted
