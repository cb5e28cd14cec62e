"""Writes of the chat-history history: sync runs and report ingest, counted per bucket.

A counter is one UPDATE ... SET n = n + 1 of its bucket's row (made by the
first event of the bucket), never a row per event. When a new bucket row is
made, the rows past their retention are deleted in the same go (so at most
once a minute). Counting never fails what it counts: a database error is
logged and forgotten.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F, FloatField, Value
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from xiaozhi_hub.history import MINUTE, RESOLUTIONS, bucket_start, retention_cutoff

from .history_selectors import sync_lag_seconds
from .models import IngestBucket, SyncBucket

logger = logging.getLogger(__name__)


def _bump(model, key: dict, increments: dict, *, maximum: tuple[str, float] | None = None):
    """Add `increments` to the row named by `key` (made when missing), and raise the
    `maximum` column to its value; True when this call made the row."""
    updates = {name: F(name) + value for name, value in increments.items()}
    initial = dict(increments)
    if maximum is not None:
        name, value = maximum
        new = Value(value, output_field=FloatField())
        updates[name] = Greatest(Coalesce(F(name), new), new)
        initial[name] = value
    if model.objects.filter(**key).update(**updates):
        return False
    try:
        with transaction.atomic():
            model.objects.create(**key, **initial)
    except IntegrityError:  # another process made it first
        model.objects.filter(**key).update(**updates)
        return False
    return True


def ingest_count(*, accepted: bool, now: datetime | None = None) -> None:
    """One report answered: stored (accepted) or refused with an error (rejected)."""
    now = now or timezone.now()
    try:
        with transaction.atomic():  # an error rolls back this, not the caller's transaction
            made = _bump(
                IngestBucket,
                {"start": bucket_start(now, MINUTE)},
                {"accepted": int(accepted), "rejected": int(not accepted)},
            )
            if made:
                IngestBucket.objects.filter(start__lt=retention_cutoff(MINUTE, now)).delete()
    except DatabaseError:
        logger.exception("could not count a chat report in the ingest history")


def sync_run_record(
    *, source: str, succeeded: bool, rows_read: int, rows_written: int, now: datetime | None = None
) -> None:
    """A run that ended (success or failed) in its minute and hour buckets, with the lag
    at its end (sync_lag_seconds)."""
    now = now or timezone.now()
    counts = {
        "runs_ok": int(succeeded),
        "runs_failed": int(not succeeded),
        "rows_read": rows_read,
        "rows_written": rows_written,
    }
    try:
        with transaction.atomic():  # an error rolls back this, not the caller's transaction
            lag = sync_lag_seconds(source=source, now=now)
            for resolution in RESOLUTIONS:
                start = bucket_start(now, resolution)
                made = _bump(
                    SyncBucket,
                    {"source": source, "resolution": resolution, "start": start},
                    counts,
                    maximum=("lag_max_seconds", lag) if lag is not None else None,
                )
                if made:
                    SyncBucket.objects.filter(
                        resolution=resolution, start__lt=retention_cutoff(resolution, now)
                    ).delete()
    except DatabaseError:
        logger.exception("could not record sync run of %s in the sync history", source)
