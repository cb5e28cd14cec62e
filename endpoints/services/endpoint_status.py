"""The pool worker's reports of its endpoints: live status rows and state-change events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection
from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from endpoints.models import Endpoint, EndpointEvent, EndpointLiveStatus
from endpoints.pool.status import EndpointStatus
from xiaozhi_hub.masking import mask_text


def _live_fields(status: EndpointStatus, worker: str) -> dict[str, Any]:
    history = status.to_dict()["reconnectHistory"]
    return {
        "worker": worker,
        "state": status.state,
        "connected": status.connected,
        "initialized": status.initialized,
        "last_connected": status.last_connected,
        "last_error": mask_text(status.last_error or ""),
        "error_class": status.error_class or "",
        "reconnect_attempts": status.reconnect_attempts,
        "next_reconnect_at": status.next_reconnect_at,
        "health_score": status.health_score,
        "rtt_ms": status.rtt_ms,
        "rtt_p95_ms": status.rtt_p95_ms,
        "rtt_history": list(status.rtt_history),
        "consecutive_failures": status.consecutive_failures,
        "total_requests": status.total_requests,
        "successful_requests": status.successful_requests,
        "tool_calls": status.tool_calls,
        "reconnect_history": history,
    }


# What an upsert of a live row overwrites: everything a report carries, and the time.
LIVE_FIELDS = [
    "worker",
    "state",
    "connected",
    "initialized",
    "last_connected",
    "last_error",
    "error_class",
    "reconnect_attempts",
    "next_reconnect_at",
    "health_score",
    "rtt_ms",
    "rtt_p95_ms",
    "rtt_history",
    "consecutive_failures",
    "total_requests",
    "successful_requests",
    "tool_calls",
    "reconnect_history",
    "updated_at",
]


def endpoint_status_store(
    *,
    worker: str,
    changes: list[tuple[EndpointStatus, str]],
    latest: list[EndpointStatus],
    events_kept: int | None = None,
    now: datetime | None = None,
) -> None:
    """Store a worker's status reports: state changes (with an event) first, then counters.

    Only for endpoints the worker still holds, so a worker that lost a lease
    cannot overwrite its successor's status. A few statements per call, however
    many endpoints: the owned ids, one bulk insert of events, one bulk upsert of
    the live rows, and (after events) one read and one delete of the oldest events.
    """
    kept = events_kept or settings.HUB_POOL_EVENTS_KEPT
    now = now or timezone.now()
    ids = {s.endpoint_id for s, _ in changes} | {s.endpoint_id for s in latest}
    if not ids:
        return
    owned = set(Endpoint.objects.filter(pk__in=ids, owner=worker).values_list("id", flat=True))
    # An event per change of state; the pool also reports other changes at once
    # (e.g. initialized), which only update the live row.
    events = [
        EndpointEvent(
            endpoint_id=status.endpoint_id,
            at=now,
            state=status.state,
            previous_state=previous,
            error_class=status.error_class or "",
            error=mask_text(status.last_error or ""),
            health_score=status.health_score,
            rtt_ms=status.rtt_ms,
            worker=worker,
        )
        for status, previous in sorted(changes, key=lambda change: change[0].endpoint_id)
        if status.endpoint_id in owned and status.state != previous
    ]
    newest: dict[int, EndpointStatus] = {}
    for status in [s for s, _ in changes] + latest:
        newest[status.endpoint_id] = status  # later reports win
    rows = [
        EndpointLiveStatus(endpoint_id=endpoint_id, **_live_fields(status, worker))
        for endpoint_id, status in sorted(newest.items())
        if endpoint_id in owned
    ]
    upsert: dict[str, Any] = {"update_conflicts": True, "update_fields": LIVE_FIELDS}
    if connection.features.supports_update_conflicts_with_target:  # SQLite, PostgreSQL
        upsert["unique_fields"] = ["endpoint"]  # MySQL: ON DUPLICATE KEY, any unique key
    # No transaction around both: the foreign-key checks lock the endpoint rows
    # (shared) until commit, and the lease renewals of this worker wait for those
    # locks; each bulk statement commits on its own, so they are held for one
    # statement, never while Python builds the next. Rows go in id order, the order
    # the renewals lock them in, so the two never deadlock.
    _bulk_insert(EndpointEvent, events)
    _bulk_insert(EndpointLiveStatus, rows, **upsert)
    if events:
        _events_prune(endpoint_ids={event.endpoint_id for event in events}, kept=kept)


def _bulk_insert(model: type, objs: list, **options: Any) -> None:
    """One statement; row by row when an endpoint was deleted since `owned` was read."""
    if not objs:
        return
    try:
        model.objects.bulk_create(objs, **options)
    except IntegrityError:
        for obj in objs:
            try:
                model.objects.bulk_create([obj], **options)
            except IntegrityError:
                continue


def _events_prune(*, endpoint_ids: set[int], kept: int) -> None:
    """Delete all but the newest `kept` events of each endpoint (two statements)."""
    ranked = (
        EndpointEvent.objects.filter(endpoint_id__in=endpoint_ids)
        .annotate(
            newer=Window(RowNumber(), partition_by=[F("endpoint_id")], order_by=F("id").desc())
        )
        .filter(newer__gt=kept)
        .values_list("id", flat=True)
    )
    old = list(ranked)
    if old:
        EndpointEvent.objects.filter(pk__in=old).delete()
