"""Writes of the health history: the worker's batch of buckets, and retention.

One bulk upsert per table and batch (the worker sends one batch a minute);
a bucket row is the worker's running total, so storing it again replaces it.
Old buckets are deleted in bulk, at most once a PRUNE_INTERVAL per worker.
"""

from __future__ import annotations

import time
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from endpoints.models import EndpointHealthBucket, McpServerHealthBucket
from xiaozhi_hub.history import RESOLUTIONS, retention_cutoff

PRUNE_INTERVAL = 600.0  # seconds between one worker's retention passes
BATCH_SIZE = 500  # rows per INSERT statement

ENDPOINT_COUNTERS = [
    "up_seconds",
    "down_seconds",
    "pings_ok",
    "pings_failed",
    "rtt_sum_ms",
    "rtt_count",
    "rtt_max_ms",
    "rtt_histogram",
    "disconnections",
]
SERVER_COUNTERS = ["up_seconds", "down_seconds", "outages"]

_last_prune: float | None = None


def _upsert(model, rows: list, *, owner: str, counters: list[str]) -> None:
    if not rows:
        return
    conflict = {}
    # MySQL's ON DUPLICATE KEY UPDATE takes no target; SQLite's ON CONFLICT needs one.
    if connection.features.supports_update_conflicts_with_target:
        conflict["unique_fields"] = [owner, "resolution", "start", "worker"]
    model.objects.bulk_create(
        rows, update_conflicts=True, update_fields=counters, batch_size=BATCH_SIZE, **conflict
    )


def health_buckets_store(
    *, worker: str, endpoint_rows: list[dict], server_rows: list[dict]
) -> None:
    """Store a batch of the worker's buckets (rows: model fields, `endpoint_id`/`server_id`
    included), then prune old buckets when it is time."""
    with transaction.atomic():
        _upsert(
            EndpointHealthBucket,
            [EndpointHealthBucket(worker=worker, **row) for row in endpoint_rows],
            owner="endpoint",
            counters=ENDPOINT_COUNTERS,
        )
        _upsert(
            McpServerHealthBucket,
            [McpServerHealthBucket(worker=worker, **row) for row in server_rows],
            owner="server",
            counters=SERVER_COUNTERS,
        )
    global _last_prune
    if _last_prune is None or time.monotonic() - _last_prune >= PRUNE_INTERVAL:
        _last_prune = time.monotonic()
        health_history_prune()


def health_history_prune(*, now: datetime | None = None) -> int:
    """Delete the buckets older than their retention (HUB_HISTORY_MINUTE_DAYS for minutes,
    HUB_HISTORY_HOUR_DAYS for hours); how many rows went."""
    now = now or timezone.now()
    deleted = 0
    for model in (EndpointHealthBucket, McpServerHealthBucket):
        for resolution in RESOLUTIONS:
            count, _ = model.objects.filter(
                resolution=resolution, start__lt=retention_cutoff(resolution, now)
            ).delete()  # one DELETE: nothing refers to a bucket
            deleted += count
    return deleted
