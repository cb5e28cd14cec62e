"""Reads of the chat-history history: sync runs and report ingest per bucket.

GET /api/v2/sync/history has the shape of the endpoints' history (range,
resolution, summary, buckets) in the chat family's snake_case. A bucket's
state: up when every run that ended in it succeeded, down when every one
failed, partial for both, none without runs.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Sum
from django.utils import timezone

from xiaozhi_hub.history import (
    HistoryRange,
    bucket_start,
    bucket_state,
    iso,
    percent,
)

from .models import DEFAULT_SOURCE, IngestBucket, RunStatus, SyncBucket, SyncRun

SYNC_SUMS = ("runs_ok", "runs_failed", "rows_read", "rows_written")


def sync_lag_seconds(*, source: str = DEFAULT_SOURCE, now: datetime | None = None):
    """Seconds since the start of the source's newest successful run (None: none yet).

    A run copies what the source held when it started, so the hub is at most
    this far behind the source.
    """
    now = now or timezone.now()
    started = (
        SyncRun.objects.filter(source=source, status=RunStatus.SUCCESS)
        .order_by("-started_at")
        .values_list("started_at", flat=True)
        .first()
    )
    return round((now - started).total_seconds(), 3) if started else None


def _sync_figures(row: dict) -> dict:
    runs = row["runs_ok"] + row["runs_failed"]
    return {
        "state": bucket_state(row["runs_ok"], row["runs_failed"]),
        "runs_ok": row["runs_ok"],
        "runs_failed": row["runs_failed"],
        "success_percent": percent(row["runs_ok"], runs),
        "rows_read": row["rows_read"],
        "rows_written": row["rows_written"],
        "lag_max_seconds": row["lag_max_seconds"],
    }


def _ingest_figures(row: dict) -> dict:
    total = row["accepted"] + row["rejected"]
    return {
        "state": bucket_state(row["accepted"], row["rejected"]),
        "accepted": row["accepted"],
        "rejected": row["rejected"],
        "rejected_percent": percent(row["rejected"], total),
    }


def _ingest_buckets(window: HistoryRange, now: datetime) -> list[dict]:
    """Ingest is counted per minute: for hour ranges the minutes are added up per hour
    (as far back as minute buckets are kept, HUB_HISTORY_MINUTE_DAYS)."""
    merged: dict[datetime, dict] = {}
    rows = (
        IngestBucket.objects.filter(start__gte=window.first_start(now))
        .order_by("start")
        .values("start", "accepted", "rejected")
    )
    for row in rows:
        start = bucket_start(row["start"], window.resolution)
        total = merged.setdefault(start, {"accepted": 0, "rejected": 0})
        total["accepted"] += row["accepted"]
        total["rejected"] += row["rejected"]
    return [{"start": iso(start), **_ingest_figures(row)} for start, row in merged.items()]


def sync_history(
    *, window: HistoryRange, source: str = DEFAULT_SOURCE, now: datetime | None = None
) -> dict:
    """GET /api/v2/sync/history: the sync's buckets of the range (only those with runs,
    oldest first), their summary, the lag now, and report ingest in the same buckets."""
    now = now or timezone.now()
    rows = list(
        SyncBucket.objects.filter(
            source=source, resolution=window.resolution, start__gte=window.first_start(now)
        )
        .order_by("start")
        .values("start", "lag_max_seconds", *SYNC_SUMS)
    )
    total = {name: sum(row[name] for row in rows) for name in SYNC_SUMS}
    lags = [row["lag_max_seconds"] for row in rows if row["lag_max_seconds"] is not None]
    total["lag_max_seconds"] = max(lags) if lags else None
    ingest = _ingest_buckets(window, now)
    ingest_total = IngestBucket.objects.filter(start__gte=window.first_start(now)).aggregate(
        accepted=Sum("accepted"), rejected=Sum("rejected")
    )
    return {
        "source": source,
        "range": window.name,
        "resolution": window.resolution,
        "bucket_seconds": window.bucket_seconds,
        "from": iso(window.first_start(now)),
        "to": iso(now),
        "lag_seconds": sync_lag_seconds(source=source, now=now),
        "summary": _sync_figures(total),
        "buckets": [{"start": iso(row["start"]), **_sync_figures(row)} for row in rows],
        "ingest": {
            "summary": _ingest_figures({name: value or 0 for name, value in ingest_total.items()}),
            "buckets": ingest,
        },
    }
