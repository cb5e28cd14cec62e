"""What the alert rules read from the endpoint pool and the chat history.

The alerts app's one door into the apps: plain imports of their selectors and
models, so a renamed one fails when the app loads. Everything here is a read
and returns plain values (no model instances leave this module). Neither app
imports the alerts (an import-linter contract in pyproject.toml).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import Sum
from django.utils.dateparse import parse_datetime

from chathistory.models import DEFAULT_SOURCE, IngestBucket, RunStatus, Source, SyncRun, SyncState
from chathistory.source_selectors import source_queryset
from chathistory.sources.registry import environment_configured
from chathistory.sources.registry import source_configured as source_is_configured
from endpoints.models import Endpoint, EndpointEvent, McpServer
from endpoints.selectors.endpoint import endpoint_status_list, live_workers

# An endpoint is healthy when connected and answering its pings (not degraded).
HEALTHY_STATE = "connected"


@dataclass(frozen=True)
class EndpointState:
    id: int
    name: str
    enabled: bool
    state: str  # as the console shows it: corrected for lapsed leases and disabled rows
    token_expires_at: datetime | None
    lease_expires_at: datetime | None


@dataclass(frozen=True)
class ServerState:
    id: int
    name: str
    state: str  # starting, ready, restarting, failed, stopped; "" before any report
    last_error: str  # masked by the runtime


def endpoint_states() -> list[EndpointState]:
    leases = dict(Endpoint.objects.values_list("id", "lease_expires_at"))
    return [
        EndpointState(
            id=status["id"],
            name=status["name"],
            enabled=status["enabled"],
            state=status["state"],
            token_expires_at=_parse(status.get("tokenExpiresAt")),
            lease_expires_at=leases.get(status["id"]),
        )
        for status in endpoint_status_list()
    ]


def state_since(endpoint_id: int, states: Iterable[str]) -> datetime | None:
    """When the endpoint entered its current run of `states` (its newest status-change
    events all in `states`); None when its newest event is not one of them."""
    states = set(states)
    since = None
    recent = EndpointEvent.objects.filter(endpoint_id=endpoint_id).order_by("-id")
    for state, at in recent.values_list("state", "at")[: settings.HUB_POOL_EVENTS_KEPT]:
        if state not in states:
            break
        since = at
    return since


def pool_running() -> bool:
    """A pool worker is alive: the servers' stored states are current."""
    return bool(live_workers())


def server_states() -> list[ServerState]:
    rows = McpServer.objects.filter(enabled=True).order_by("id")
    return [
        ServerState(id=pk, name=name, state=state, last_error=last_error)
        for pk, name, state, last_error in rows.values_list("id", "name", "state", "last_error")
    ]


def sync_sources() -> list[tuple[str, str]]:
    """(key, name) of the sources the sync copies: enabled and configured. The source of
    ESP32_DATABASE_URL counts before its row exists (it is made on the first sync)."""
    found = [
        (source.key, source.name or source.key)
        for source in source_queryset(enabled=True)
        if source_is_configured(source)
    ]
    if environment_configured() and not Source.objects.filter(key=DEFAULT_SOURCE).exists():
        found.insert(0, (DEFAULT_SOURCE, DEFAULT_SOURCE))
    return found


def sync_failure_streak(*, source: str) -> tuple[int, datetime | None, str]:
    """Finished runs failed in a row, newest first: (count, start of the first, last error)."""
    count, since, error = 0, None, ""
    finished = SyncRun.objects.filter(source=source).exclude(
        status__in=[RunStatus.IN_PROGRESS, RunStatus.SKIPPED]
    )
    for status, started_at, run_error in finished.order_by("-started_at", "-id").values_list(
        "status", "started_at", "error"
    )[:1000]:
        if status not in (RunStatus.FAILED, RunStatus.ABANDONED):
            break
        count, since = count + 1, started_at
        error = error or run_error
    return count, since, error


def sync_last_success(*, source: str) -> datetime | None:
    return SyncState.objects.filter(source=source).values_list("last_success_at", flat=True).first()


def sync_first_run_at(*, source: str) -> datetime | None:
    return (
        SyncRun.objects.filter(source=source)
        .order_by("started_at")
        .values_list("started_at", flat=True)
        .first()
    )


def ingest_counts(*, since: datetime) -> tuple[int, int]:
    """Reports (accepted, rejected) in the minutes starting at or after `since`."""
    totals = IngestBucket.objects.filter(start__gte=since).aggregate(
        accepted=Sum("accepted"), rejected=Sum("rejected")
    )
    return totals["accepted"] or 0, totals["rejected"] or 0


def _parse(value: str | None) -> datetime | None:
    return parse_datetime(value) if value else None
