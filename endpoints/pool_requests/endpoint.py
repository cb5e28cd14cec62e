"""Requests to the running pool about its endpoints: reconnect, check health, probe."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from endpoints import control, status_display
from endpoints.models import Endpoint
from endpoints.selectors.endpoint import live_workers, probe_target_worker

PROBE_METHODS = ("ping", "roots/list")  # requests an MCP client (the xiaozhi side) answers


def endpoint_reconnect(*, endpoint_id: int) -> dict:
    """Drop and redial one endpoint now, and wait for the worker holding it to say so.

    {"id", "name", "done", "worker", "reason", "error"}: done with the worker's
    name, or not done with why (`reason` as in a check's `notChecked`).
    """
    endpoint = Endpoint.objects.get(pk=endpoint_id)
    answer: dict[str, Any] = {"id": endpoint.pk, "name": endpoint.name, "done": False}
    answer.update(worker=None, reason=None, error=None)
    try:
        replies = control.request(control.RECONNECT, endpoint_id=endpoint_id)
    except control.PoolUnavailable as exc:
        return {**answer, "reason": "no_pool", "error": str(exc)}
    done = [reply for reply in replies if reply.get("done")]
    if done:
        return {**answer, "done": True, "worker": done[0]["worker"]}
    failed = [reply for reply in replies if reply.get("error")]
    if failed:
        message = _("worker %(worker)s could not reconnect it: %(error)s")
        error = message % {"worker": failed[0]["worker"], "error": failed[0]["error"]}
        return {**answer, "reason": "worker_error", "error": error}
    reason, error = _why_unreached(endpoint, now=timezone.now())
    return {**answer, "reason": reason, "error": error}


def endpoint_check_health(*, endpoint_id: int | None = None) -> dict:
    """Ping one endpoint (or all) now and report each round trip, and why one failed.

    {"results": [{"id", "name", "ok", "rttMs", "worker", "reason", "error"}],
     "notConnected": [ids no worker pinged], "notChecked": [{"id", "name", "reason",
     "error"}] (the same ids, with why), "checkedAt"} - plus "error" when no running
    pool answered. A failed ping's reason: "timeout", "not_connected" or "peer_error";
    an endpoint not pinged: "disabled", "not_held", "worker_silent" or "no_pool".
    `error` is that reason in words (the active language).
    """
    endpoints = list(Endpoint.objects.filter(enabled=True))
    if endpoint_id is not None:
        endpoints = [Endpoint.objects.get(pk=endpoint_id)]
    by_id = {e.pk: e for e in endpoints}
    report: dict[str, Any] = {"results": [], "notConnected": [], "notChecked": []}
    report["checkedAt"] = None
    try:
        replies = control.request(control.CHECK, endpoint_id=endpoint_id)
    except control.PoolUnavailable as exc:
        report["error"] = str(exc)
        report["notConnected"] = sorted(by_id)
        report["notChecked"] = [
            {"id": pk, "name": by_id[pk].name, "reason": "no_pool", "error": str(exc)}
            for pk in sorted(by_id)
        ]
        return report
    seen = set()
    for reply in replies:
        failures = reply.get("failures") or {}
        for key, rtt in (reply.get("results") or {}).items():
            pk = int(key)
            seen.add(pk)
            failure = failures.get(key) or ({} if rtt is not None else {"reason": "timeout"})
            endpoint = by_id.get(pk)
            report["results"].append(
                {
                    "id": pk,
                    "name": endpoint.name if endpoint else "",
                    "ok": rtt is not None and not failure,
                    "rttMs": rtt,
                    "worker": reply["worker"],
                    "reason": failure.get("reason"),
                    "error": _ping_failure(failure) if failure else None,
                }
            )
    report["results"].sort(key=lambda item: item["id"])
    now = timezone.now()
    for pk in sorted(pk for pk in by_id if pk not in seen):
        reason, error = _why_unreached(by_id[pk], now=now)
        report["notConnected"].append(pk)
        report["notChecked"].append(
            {"id": pk, "name": by_id[pk].name, "reason": reason, "error": error}
        )
    report["checkedAt"] = now.isoformat()
    return report


def _ping_failure(failure: dict) -> str:
    """Why a worker's ping failed, in words."""
    reason, detail = failure.get("reason"), failure.get("detail") or ""
    if reason == "not_connected":
        state = status_display.state_label(failure.get("state")).lower()
        if detail:
            return _("not connected (%(state)s); last error: %(error)s") % {
                "state": state,
                "error": detail,
            }
        return _("not connected (%(state)s)") % {"state": state}
    if reason == "peer_error":
        return _("the endpoint answered the ping with an error: %(error)s") % {"error": detail}
    if detail:
        return _("no answer to the ping within %(seconds)s s") % {"seconds": detail}
    return _("no answer to the ping in time")


def _why_unreached(endpoint: Endpoint, *, now) -> tuple[str, str]:
    """Why no worker pinged (or redialled) `endpoint`: (reason, in words)."""
    if not endpoint.enabled:
        return "disabled", _("it is disabled: no worker connects it")
    leased = endpoint.owner and endpoint.lease_expires_at and endpoint.lease_expires_at >= now
    if leased:
        return "worker_silent", _(
            "worker %(worker)s holds it but sent no result for it (it may still be dialling it)"
        ) % {"worker": endpoint.owner}
    if not live_workers():
        return "not_held", _(
            "no pool worker holds it: no worker has sent a heartbeat within %(seconds)s s"
        ) % {"seconds": settings.HUB_POOL_LEASE_TTL}
    return "not_held", _(
        "no pool worker holds it yet (its lease lapsed or was not taken; "
        "a worker takes it within a lease round)"
    )


def endpoint_probe(
    *, method: str = "ping", params: dict | None = None, timeout: float | None = None
) -> dict:
    """Send one hub-originated request through the pool's load balancer with failover.

    Returns {"endpoint": {"id", "name"}, "method", "result", "rttMs", "attempts",
    "worker"} or {"error", "method", "attempts"} when no endpoint could answer.
    `attempts` ({"endpointId", "error"}) also lists the connected self-hosted relays,
    skipped: they drop requests the hub originates.
    """
    if method not in PROBE_METHODS:
        raise ValueError(f"method must be one of {', '.join(PROBE_METHODS)}")
    if params is not None and not isinstance(params, dict):
        raise ValueError("params must be an object")
    target = probe_target_worker() if control.uses_redis() else None
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
        error = answer.get("error") or "no healthy endpoint"
        return {"error": error, "method": method, "attempts": answer.get("attempts") or []}
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
