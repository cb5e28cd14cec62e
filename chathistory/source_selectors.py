"""Reads of the sources (docs/sources.md): lists, masked payloads, which are due for a sync."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from xiaozhi_hub.masking import MASK, mask_url

from .models import Source, SyncState, SyncStatus
from .sources.registry import source_configured


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="milliseconds") if value else None


def source_queryset(*, enabled: bool | None = None) -> QuerySet[Source]:
    queryset = Source.objects.all()
    if enabled is not None:
        queryset = queryset.filter(enabled=enabled)
    return queryset.order_by("key")


def source_get(*, key: str) -> Source:
    """The source named `key`; Source.DoesNotExist otherwise."""
    return Source.objects.get(key=key)


def source_keys() -> list[str]:
    return list(Source.objects.order_by("key").values_list("key", flat=True))


def source_payload(source: Source) -> dict:
    """A source as the REST API and the console show it: secrets masked."""
    return {
        "key": source.key,
        "name": source.name,
        "kind": source.kind,
        "url": mask_url(source.url) if source.url else "",
        "token": MASK if source.token else "",
        "enabled": source.enabled,
        "sync_interval": source.sync_interval,
        "audio_mode": source.audio_mode,
        "from_environment": source.from_environment,
        "configured": source_configured(source),
        "created_at": _iso(source.created_at),
        "updated_at": _iso(source.updated_at),
    }


def sources_due(*, now: datetime | None = None) -> list[Source]:
    """Enabled, configured sources whose sync interval has passed since their last run.

    A beat tick is a little late or early: half a tick of slack keeps a source whose
    interval equals the tick from being synced only every other tick. A source whose
    run is in progress (its claim is fresh) is not due.
    """
    now = now or timezone.now()
    slack = timedelta(seconds=settings.HUB_SYNC_INTERVAL / 2)
    stale = now - timedelta(seconds=settings.HUB_SYNC_CLAIM_TIMEOUT)
    states = {s.source: s for s in SyncState.objects.all()}
    due = []
    for source in source_queryset(enabled=True):
        if not source_configured(source):
            continue
        state = states.get(source.key)
        if state is not None:
            running = state.status == SyncStatus.IN_PROGRESS and (
                state.claimed_at is not None and state.claimed_at >= stale
            )
            if running:
                continue
            last = state.last_run_at
            if last is not None and now - last + slack < timedelta(seconds=source.sync_interval):
                continue
        due.append(source)
    return due
