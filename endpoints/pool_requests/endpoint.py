"""Requests to the running pool about its endpoints: reconnect, check health, probe."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from endpoints import control
from endpoints.models import Endpoint
from endpoints.pool_requests.reload import send_now
from endpoints.selectors.endpoint import probe_target_worker

PROBE_METHODS = ("ping", "roots/list")  # requests an MCP client (the xiaozhi side) answers


def endpoint_reconnect(*, endpoint_id: int) -> None:
    """Drop and redial one endpoint now (also resumes a `failed` one)."""
    Endpoint.objects.get(pk=endpoint_id)
    transaction.on_commit(lambda: send_now(control.RECONNECT, endpoint_id=endpoint_id))


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
