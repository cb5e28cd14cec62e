"""The pool worker's reports of its endpoints: live status rows and state-change events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
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
    cannot overwrite its successor's status.
    """
    kept = events_kept or settings.HUB_POOL_EVENTS_KEPT
    now = now or timezone.now()
    ids = {s.endpoint_id for s, _ in changes} | {s.endpoint_id for s in latest}
    owned = set(Endpoint.objects.filter(pk__in=ids, owner=worker).values_list("id", flat=True))
    pruned = set()
    with transaction.atomic():
        for status, previous in changes:
            # An event per change of state; the pool also reports other changes
            # at once (e.g. initialized), which only update the live row.
            if status.endpoint_id not in owned or status.state == previous:
                continue
            EndpointEvent.objects.create(
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
            pruned.add(status.endpoint_id)
        newest: dict[int, EndpointStatus] = {}
        for status in [s for s, _ in changes] + latest:
            newest[status.endpoint_id] = status  # later reports win
        for endpoint_id, status in newest.items():
            if endpoint_id not in owned:
                continue
            try:
                with transaction.atomic():
                    EndpointLiveStatus.objects.update_or_create(
                        endpoint_id=endpoint_id, defaults=_live_fields(status, worker)
                    )
            except IntegrityError:  # deleted meanwhile
                continue
        for endpoint_id in pruned:
            _events_prune(endpoint_id=endpoint_id, kept=kept)


def _events_prune(*, endpoint_id: int, kept: int) -> None:
    boundary = (
        EndpointEvent.objects.filter(endpoint_id=endpoint_id)
        .order_by("-id")
        .values_list("id", flat=True)[kept : kept + 1]
    )
    boundary = list(boundary)
    if boundary:
        EndpointEvent.objects.filter(endpoint_id=endpoint_id, id__lte=boundary[0]).delete()
