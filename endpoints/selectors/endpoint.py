"""Reads of the endpoint pool: status as the console and REST show it, configs for workers."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from endpoints.models import Endpoint, EndpointEvent, EndpointLiveStatus, PoolOptions, PoolWorker
from endpoints.options import CONNECTION_OPTIONS, options_to_json
from endpoints.pool.config import EndpointConfig
from endpoints.pool.status import EndpointStatus
from xiaozhi_hub.crypto import lookup_digests
from xiaozhi_hub.masking import mask_text

logger = logging.getLogger(__name__)


def status_payload(status: EndpointStatus, *, worker: str | None) -> dict:
    """The one status dict: `/api/status` connections item and `endpoint_health` payload."""
    return {**status.to_dict(), "worker": worker}


def _parse_history(entries: list) -> list[dict]:
    history = []
    for entry in entries or []:
        at = entry.get("at")
        history.append({**entry, "at": datetime.fromisoformat(at) if at else None})
    return history


def endpoint_status_of(endpoint: Endpoint, *, now) -> dict:
    """A status dict from the stored rows, corrected for what the rows cannot know.

    A disabled endpoint is `disabled`; an enabled one whose lease lapsed (its
    worker died or none runs) is not connected, whatever its worker last wrote.
    """
    live: EndpointLiveStatus | None = getattr(endpoint, "live", None)
    leased = endpoint.owner is not None and (
        endpoint.lease_expires_at is not None and endpoint.lease_expires_at >= now
    )
    expiry = endpoint.token_expires_at
    status = EndpointStatus(
        endpoint_id=endpoint.pk,
        name=endpoint.name,
        url=endpoint.url,
        enabled=endpoint.enabled,
        token_expires_at=expiry,
        token_expired=expiry is not None and expiry <= now,
        peer_profile=endpoint.effective_peer_profile,
    )
    if live is not None:
        for field in (
            "state",
            "connected",
            "initialized",
            "last_connected",
            "last_error",
            "reconnect_attempts",
            "next_reconnect_at",
            "health_score",
            "rtt_ms",
            "rtt_p95_ms",
            "consecutive_failures",
            "total_requests",
            "successful_requests",
            "tool_calls",
        ):
            setattr(status, field, getattr(live, field))
        status.error_class = live.error_class or None
        status.rtt_history = list(live.rtt_history or [])
        status.reconnect_history = _parse_history(live.reconnect_history)
    if not endpoint.enabled:
        status.state = "disabled"
    if not endpoint.enabled or not leased:
        status.connected = status.initialized = False
        status.health_score = 0.0
        status.next_reconnect_at = None
        if endpoint.enabled:
            status.state = "connecting"
    worker = endpoint.owner if leased else None
    return status_payload(status, worker=worker)


def endpoint_status_list() -> list[dict]:
    """One status dict per endpoint, by id (same dict as the `endpoint_health` payload)."""
    now = timezone.now()
    endpoints = Endpoint.objects.select_related("live").order_by("id")
    return [endpoint_status_of(endpoint, now=now) for endpoint in endpoints]


def endpoint_status(*, endpoint_id: int) -> dict:
    endpoint = Endpoint.objects.select_related("live").get(pk=endpoint_id)
    return endpoint_status_of(endpoint, now=timezone.now())


def live_workers() -> list[PoolWorker]:
    since = timezone.now() - timedelta(seconds=settings.HUB_POOL_LEASE_TTL)
    return list(PoolWorker.objects.filter(heartbeat_at__gte=since))


def pool_status() -> dict:
    """The body of GET /api/status (the original client's multi-endpoint shape)."""
    connections = endpoint_status_list()
    connected = [c for c in connections if c["connected"]]
    rtts = [c["rttMs"] for c in connected if c["rttMs"] is not None]
    return {
        "type": "multi-endpoint",
        "manager": {
            "totalConnections": len(connections),
            "connectedConnections": len(connected),
            "healthyConnections": sum(c["state"] == "connected" for c in connections),
            "healthCheckStats": {
                "enabledConnections": sum(c["enabled"] for c in connections),
                "degradedConnections": sum(c["state"] == "degraded" for c in connections),
                "failedConnections": sum(c["state"] == "failed" for c in connections),
                "averageHealthScore": (
                    round(sum(c["healthScore"] for c in connected) / len(connected), 1)
                    if connected
                    else None
                ),
                "averageRttMs": round(sum(rtts) / len(rtts), 1) if rtts else None,
                "totalRequests": sum(c["totalRequests"] for c in connections),
                "successfulRequests": sum(c["successfulRequests"] for c in connections),
            },
            "loadBalanceStrategy": PoolOptions.load().load_balance_strategy,
            "workers": [w.name for w in live_workers()],
        },
        "connections": connections,
    }


def pool_configs_for(*, owner: str, endpoint_ids: list[int]) -> tuple[list[EndpointConfig], str]:
    """The configs a worker should run (rows it holds) and the load-balance strategy."""
    options = PoolOptions.load()
    configs = []
    for endpoint in Endpoint.objects.filter(pk__in=endpoint_ids, owner=owner, enabled=True):
        try:
            configs.append(endpoint.to_config(options))
        except ValueError as exc:  # a row written around validation; skip, say why
            logger.warning("endpoint %s skipped: %s", endpoint.pk, mask_text(str(exc)))
    return configs, options.load_balance_strategy


def probe_target_worker() -> str | None:
    """The live worker holding the most healthy endpoints (where a probe can succeed)."""
    now = timezone.now()
    best = (
        Endpoint.objects.filter(enabled=True, lease_expires_at__gte=now, owner__isnull=False)
        .values("owner")
        .annotate(
            healthy=Count("id", filter=Q(live__state__in=("connected", "degraded"))),
        )
        .order_by("-healthy")
        .first()
    )
    return best["owner"] if best and best["healthy"] else None


def endpoint_config_dict(endpoint: Endpoint, *, now=None) -> dict:
    """An endpoint's configuration for REST and commands (URL masked)."""
    now = now or timezone.now()
    expiry = endpoint.token_expires_at
    return {
        "id": endpoint.pk,
        "name": endpoint.name,
        "url": endpoint.masked_url,
        "enabled": endpoint.enabled,
        "healthCheckEnabled": endpoint.health_check_enabled,
        "reconnectOnToolsChange": endpoint.reconnect_on_tools_change,
        "peerProfile": endpoint.peer_profile,  # auto | broker | relay, as configured
        "effectivePeerProfile": endpoint.effective_peer_profile,  # auto resolved from the URL
        "options": options_to_json(endpoint, specs=CONNECTION_OPTIONS, skip_none=True),
        "tokenExpiresAt": expiry.isoformat() if expiry else None,
        "tokenExpiry": endpoint.token_expiry_label(now=now),
        "createdAt": endpoint.created_at.isoformat(),
        "updatedAt": endpoint.updated_at.isoformat(),
    }


def endpoint_list() -> list[dict]:
    now = timezone.now()
    statuses = {s["id"]: s for s in endpoint_status_list()}
    return [
        {**endpoint_config_dict(e, now=now), "status": statuses.get(e.pk)}
        for e in Endpoint.objects.order_by("id")
    ]


def endpoint_detail(*, endpoint_id: int) -> dict:
    endpoint = Endpoint.objects.get(pk=endpoint_id)
    return {
        **endpoint_config_dict(endpoint),
        "status": endpoint_status(endpoint_id=endpoint_id),
        "events": endpoint_events(endpoint_id=endpoint_id, limit=20),
    }


def endpoint_find_by_url(*, url: str) -> Endpoint | None:
    """The endpoint with this URL, found by its digest (the URL itself is stored encrypted)."""
    candidates = Endpoint.objects.filter(url_digest__in=lookup_digests(url)).order_by("id")
    return next((e for e in candidates if e.url.strip() == url.strip()), None)


def endpoint_events(*, endpoint_id: int, limit: int = 50) -> list[dict]:
    """The newest status changes first (the health history)."""
    events = EndpointEvent.objects.filter(endpoint_id=endpoint_id).order_by("-id")[:limit]
    return [
        {
            "at": e.at.isoformat(),
            "state": e.state,
            "previousState": e.previous_state or None,
            "errorClass": e.error_class or None,
            "error": e.error,
            "healthScore": e.health_score,
            "rttMs": e.rtt_ms,
            "worker": e.worker,
        }
        for e in events
    ]


def pool_options_get() -> dict:
    """The global options in the xiaozhi.config.json `connectionOptions` shape (ms)."""
    return options_to_json(PoolOptions.load())
