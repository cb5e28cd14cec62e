"""Writes of the endpoint pool, and the run-time control of the running pool.

Every configuration write ends with `transaction.on_commit` → a `reload`
control message, so the pool (wherever it runs) applies the change within a
second; the workers' periodic reconcile is the safety net for lost messages.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from endpoints import control, selectors
from endpoints.config_file import ParsedConfig
from endpoints.models import Endpoint, EndpointEvent, EndpointLiveStatus, PoolOptions
from endpoints.options import CONNECTION_FIELDS, LOAD_BALANCE
from endpoints.pool.status import EndpointStatus
from xiaozhi_hub.masking import mask_text

logger = logging.getLogger(__name__)

ENDPOINT_FIELDS = {"name", "url", "enabled", "health_check_enabled", *CONNECTION_FIELDS}
PROBE_METHODS = ("ping", "roots/list")  # requests an MCP client (the xiaozhi side) answers


# --- notifying the running pool ----------------------------------------------
def _send_now(op: str, **fields: Any) -> None:
    try:
        control.send(op, **fields)
    except Exception as exc:  # the row is saved; the workers' reconcile catches up
        logger.warning("endpoint pool control %s not delivered: %s", op, mask_text(str(exc)))


def pool_notify_changed() -> None:
    """After the current transaction commits, tell the pool to re-read its rows."""
    transaction.on_commit(lambda: _send_now(control.RELOAD))


# --- endpoints ---------------------------------------------------------------
def endpoint_save(*, endpoint: Endpoint) -> Endpoint:
    """Validate and save (create or update) an endpoint; the pool picks it up."""
    endpoint.full_clean()
    endpoint.save()
    pool_notify_changed()
    return endpoint


def endpoint_create(
    *,
    name: str,
    url: str,
    enabled: bool = True,
    health_check_enabled: bool = True,
    options: dict[str, Any] | None = None,
) -> Endpoint:
    endpoint = Endpoint(
        name=name, url=url, enabled=enabled, health_check_enabled=health_check_enabled
    )
    for field, value in (options or {}).items():
        _set_field(endpoint, field, value)
    return endpoint_save(endpoint=endpoint)


def _set_field(endpoint: Endpoint, field: str, value: Any) -> None:
    if field not in ENDPOINT_FIELDS:
        raise ValueError(f"unknown endpoint field {field!r}")
    if field == "reconnect_strategy" and value is None:
        value = ""  # the "use the global value" of a choice override
    setattr(endpoint, field, value)


def endpoint_update(*, endpoint_id: int, data: dict[str, Any]) -> Endpoint:
    """Change some fields (model field names; None clears an option override)."""
    with transaction.atomic():
        endpoint = Endpoint.objects.select_for_update().get(pk=endpoint_id)
        for field, value in data.items():
            _set_field(endpoint, field, value)
        return endpoint_save(endpoint=endpoint)


def endpoint_delete(*, endpoint_id: int) -> None:
    Endpoint.objects.get(pk=endpoint_id).delete()
    pool_notify_changed()


def endpoint_set_enabled(*, endpoint_ids: Iterable[int], enabled: bool) -> int:
    """Enable or disable endpoints; returns how many changed."""
    changed = 0
    with transaction.atomic():
        for endpoint in Endpoint.objects.select_for_update().filter(pk__in=list(endpoint_ids)):
            if endpoint.enabled != enabled:
                endpoint.enabled = enabled
                endpoint.save(update_fields=["enabled", "updated_at"])
                changed += 1
        if changed:
            pool_notify_changed()
    return changed


# --- run-time control ----------------------------------------------------------
def endpoint_reconnect(*, endpoint_id: int) -> None:
    """Drop and redial one endpoint now (also resumes a `failed` one)."""
    Endpoint.objects.get(pk=endpoint_id)
    transaction.on_commit(lambda: _send_now(control.RECONNECT, endpoint_id=endpoint_id))


def endpoint_check_health(*, endpoint_id: int | None = None) -> dict:
    """Ping one endpoint (or all) now and report each round trip.

    {"results": [{"id", "name", "ok", "rttMs", "worker"}], "notConnected": [ids],
     "checkedAt"} - plus "error" when no running pool answered.
    """
    endpoints = Endpoint.objects.filter(enabled=True)
    if endpoint_id is not None:
        endpoint = Endpoint.objects.get(pk=endpoint_id)
        endpoints = [endpoint]
    names = {e.pk: e.name for e in endpoints}
    report: dict[str, Any] = {"results": [], "notConnected": [], "checkedAt": None}
    try:
        replies = control.request(control.CHECK, endpoint_id=endpoint_id)
    except control.PoolUnavailable as exc:
        report["error"] = str(exc)
        report["notConnected"] = sorted(names)
        return report
    seen = set()
    for reply in replies:
        for key, rtt in (reply.get("results") or {}).items():
            pk = int(key)
            seen.add(pk)
            report["results"].append(
                {
                    "id": pk,
                    "name": names.get(pk, ""),
                    "ok": rtt is not None,
                    "rttMs": rtt,
                    "worker": reply["worker"],
                }
            )
    report["results"].sort(key=lambda item: item["id"])
    report["notConnected"] = sorted(pk for pk in names if pk not in seen)
    report["checkedAt"] = timezone.now().isoformat()
    return report


def endpoint_probe(
    *, method: str = "ping", params: dict | None = None, timeout: float | None = None
) -> dict:
    """Send one hub-originated request through the pool's load balancer with failover.

    Returns {"endpoint": {"id", "name"}, "method", "result", "rttMs", "attempts",
    "worker"} or {"error": ...} when no endpoint could answer.
    """
    if method not in PROBE_METHODS:
        raise ValueError(f"method must be one of {', '.join(PROBE_METHODS)}")
    if params is not None and not isinstance(params, dict):
        raise ValueError("params must be an object")
    target = selectors.probe_target_worker() if control.uses_redis() else None
    try:
        replies = control.request(
            control.PROBE, worker=target, method=method, params=params or {}, timeout=timeout
        )
    except control.PoolUnavailable as exc:
        return {"error": str(exc), "method": method}
    answers = [r for r in replies if not r.get("skipped")]
    if not answers:
        return {"error": "no healthy endpoint", "method": method}
    answer = answers[0]
    if "endpointId" not in answer:
        return {"error": answer.get("error") or "no healthy endpoint", "method": method}
    served = Endpoint.objects.filter(pk=answer["endpointId"]).first()
    return {
        "endpoint": {"id": answer["endpointId"], "name": served.name if served else None},
        "method": method,
        "result": answer["result"],
        "rpcError": answer.get("rpcError"),
        "rttMs": answer["rttMs"],
        "attempts": answer["attempts"],
        "worker": answer["worker"],
    }


# --- global options ------------------------------------------------------------
def pool_options_update(*, data: dict[str, Any]) -> PoolOptions:
    """Change global options (model field names); validated, then applied at run time."""
    with transaction.atomic():
        options = PoolOptions.load()
        for field, value in data.items():
            if not hasattr(options, field) or field in ("id", "updated_at"):
                raise ValueError(f"unknown option {field!r}")
            setattr(options, field, value)
        options.full_clean()
        options.save()
        pool_notify_changed()
    return options


def pool_set_load_balance_strategy(*, strategy: str) -> PoolOptions:
    if strategy not in LOAD_BALANCE.choices:
        raise ValueError(f"strategy must be one of {', '.join(LOAD_BALANCE.choices)}")
    return pool_options_update(data={"load_balance_strategy": strategy})


# --- xiaozhi.config.json import ----------------------------------------------------
def config_import(*, parsed: ParsedConfig) -> dict:
    """Apply a parsed xiaozhi.config.json in one transaction: all of it or nothing.

    Endpoints are matched by URL (unchanged), then, when named after their
    token's agent, by name (URL updated: a regenerated token), else created.
    Returns what happened, by name.
    """
    report: dict[str, Any] = {
        "created": [],
        "updated": [],
        "unchanged": [],
        "options": [],
        "warnings": list(parsed.warnings),
    }
    with transaction.atomic():
        by_url = {e.url: e for e in Endpoint.objects.all()}
        for entry in parsed.endpoints:
            existing = by_url.get(entry.url)
            if existing is not None:
                report["unchanged"].append(existing.name)
                continue
            named = Endpoint.objects.filter(name=entry.name).first()
            if named is not None and entry.name_from_token:
                named.url = entry.url
                endpoint_save(endpoint=named)
                report["updated"].append(named.name)
                continue
            name, suffix = entry.name, 2
            while Endpoint.objects.filter(name=name).exists():
                name, suffix = f"{entry.name}-{suffix}", suffix + 1
            endpoint_create(name=name, url=entry.url)
            report["created"].append(name)
        if parsed.options:
            current = PoolOptions.load()
            changed = {f: v for f, v in parsed.options.items() if getattr(current, f) != v}
            if changed:
                pool_options_update(data=changed)
                report["options"] = sorted(changed)
    return report


# --- status written by the pool worker -------------------------------------------
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
