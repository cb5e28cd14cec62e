"""Reads of the endpoint pool: status as the console and REST show it, configs for workers."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from endpoints.models import (
    Endpoint,
    EndpointEvent,
    EndpointLiveStatus,
    McpServer,
    PoolOptions,
    PoolWorker,
    Tool,
    ToolCall,
    mask_mapping,
    mask_upstream_url,
)
from endpoints.options import CONNECTION_OPTIONS, options_to_json
from endpoints.pool.config import EndpointConfig
from endpoints.pool.status import EndpointStatus
from endpoints.upstreams.config import ServerConfig, ToolKey, ToolSettings
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


# --- upstream MCP servers ----------------------------------------------------------
def upstream_configs() -> tuple[list[ServerConfig], dict[ToolKey, ToolSettings]]:
    """What every pool worker runs: all servers (disabled ones say so) and every tool's settings."""
    servers = []
    for server in McpServer.objects.order_by("id"):
        try:
            servers.append(server.to_config())
        except ValueError as exc:  # a row written around validation; skip, say why
            logger.warning("MCP server %s skipped: %s", server.pk, mask_text(str(exc)))
    settings_by_key = {
        (tool.server_id, tool.upstream_name): ToolSettings(
            enabled=tool.enabled,
            description=tool.description_override or None,
            timeout=tool.timeout,
        )
        for tool in Tool.objects.only(
            "server_id", "upstream_name", "enabled", "description_override", "timeout"
        )
    }
    return servers, settings_by_key


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def mcp_server_dict(server: McpServer) -> dict:
    """A server for REST and commands: env and header values, URLs masked."""
    tools = getattr(server, "tool_total", None)
    enabled_tools = getattr(server, "tool_enabled", None)
    if tools is None:
        tools = server.tools.count()
        enabled_tools = server.tools.filter(enabled=True).count()
    return {
        "id": server.pk,
        "name": server.name,
        "transport": server.transport,
        "command": server.command,
        "args": [mask_text(arg) for arg in server.args or []],
        "env": mask_mapping(server.env),
        "cwd": server.cwd,
        "replicas": server.replicas,
        "url": mask_upstream_url(server.url) if server.url else "",
        "headers": mask_mapping(server.headers),
        "replicaUrls": [mask_upstream_url(url) for url in server.replica_urls or []],
        "target": server.masked_target,
        "enabled": server.enabled,
        "callTimeout": server.call_timeout,
        "loadBalance": server.load_balance,
        "state": server.state or ("stopped" if not server.enabled else "starting"),
        "status": server.status or None,
        "lastError": server.last_error,
        "statusUpdatedAt": _iso(server.status_updated_at),
        "toolCount": tools,
        "toolsEnabled": enabled_tools,
        "createdAt": _iso(server.created_at),
        "updatedAt": _iso(server.updated_at),
    }


def mcp_server_queryset():
    return McpServer.objects.annotate(
        tool_total=Count("tools"), tool_enabled=Count("tools", filter=Q(tools__enabled=True))
    ).order_by("name")


def mcp_server_list() -> list[dict]:
    return [mcp_server_dict(server) for server in mcp_server_queryset()]


def mcp_server_detail(*, server_id: int) -> dict:
    return mcp_server_dict(mcp_server_queryset().get(pk=server_id))


def tool_effective_timeout(*, tool: Tool) -> float:
    return tool.timeout if tool.timeout is not None else tool.server.call_timeout


def tool_dict(tool: Tool) -> dict:
    return {
        "id": tool.pk,
        "name": tool.exposed_name,
        "server": {"id": tool.server_id, "name": tool.server.name},
        "upstreamName": tool.upstream_name,
        "enabled": tool.enabled,
        "available": tool.available,
        "description": tool.description,
        "descriptionOverride": tool.description_override or None,
        "timeout": tool.timeout,
        "effectiveTimeout": tool_effective_timeout(tool=tool),
        "inputSchema": tool.input_schema,
        "usageCount": tool.usage_count,
        "lastUsedAt": _iso(tool.last_used_at),
        "lastError": tool.last_error,
        "lastErrorAt": _iso(tool.last_error_at),
        "shadowedBy": tool_shadowed_by(tool),
    }


def tools_with_clashes():
    """Tools annotated with `has_namesakes`: another enabled tool of the server has the
    same exposed name (the names clash once sanitised); see `tool_shadowed_by`."""
    namesakes = Tool.objects.filter(
        server=OuterRef("server"), exposed_name=OuterRef("exposed_name"), enabled=True
    ).exclude(pk=OuterRef("pk"))
    return Tool.objects.annotate(has_namesakes=Exists(namesakes)).select_related("server")


def tool_shadowed_by(tool: Tool) -> str | None:
    """The upstream name offered instead of this enabled tool, or None.

    The runtime's rule (endpoints/upstreams/manager.py): of the enabled tools that
    share an exposed name, the first in upstream-name order (code points, not the
    database's collation) is offered.
    """
    if not tool.enabled or not getattr(tool, "has_namesakes", True):
        return None
    names = Tool.objects.filter(
        server_id=tool.server_id, exposed_name=tool.exposed_name, enabled=True
    ).values_list("upstream_name", flat=True)
    winner = min(names, default=tool.upstream_name)
    return winner if winner != tool.upstream_name else None


def tool_queryset(*, server: str | None = None, enabled: bool | None = None):
    """Tools by server (id or name) and enabled flag, ordered by exposed name."""
    tools = tools_with_clashes().order_by("exposed_name")
    if server:
        by = Q(server__name=server) | (Q(server_id=int(server)) if server.isdigit() else Q())
        tools = tools.filter(by)
    if enabled is not None:
        tools = tools.filter(enabled=enabled)
    return tools


def tool_list(*, server: str | None = None, enabled: bool | None = None) -> list[dict]:
    return [tool_dict(tool) for tool in tool_queryset(server=server, enabled=enabled)]


def tool_detail(*, tool_id: int) -> dict:
    return tool_dict(tools_with_clashes().get(pk=tool_id))


def tool_by_exposed_name(*, name: str) -> Tool | None:
    return Tool.objects.select_related("server").filter(exposed_name=name).first()


def tool_call_target_worker() -> str | None:
    """The live pool worker with the freshest heartbeat (every worker runs every server)."""
    workers = sorted(live_workers(), key=lambda w: w.heartbeat_at, reverse=True)
    return workers[0].name if workers else None


def tool_call_dict(call: ToolCall) -> dict:
    return {
        "id": call.pk,
        "at": _iso(call.at),
        "tool": call.tool,
        "toolId": call.tool_ref_id,
        "serverId": call.server_id,
        "endpointId": call.endpoint_id,
        "durationMs": round(call.duration_ms, 3),
        "outcome": call.outcome,
        "error": call.error,
        "arguments": call.arguments,
        "result": call.result,
        "replica": call.replica,
        "failovers": call.failovers,
    }


def tool_calls_tail(
    *,
    limit: int = 50,
    tool: str | None = None,
    outcome: str | None = None,
    after: int | None = None,
) -> list[dict]:
    """The newest calls first; with `after`, the calls logged since that id, oldest first."""
    calls = ToolCall.objects.all()
    if tool:
        calls = calls.filter(tool=tool)
    if outcome:
        calls = calls.filter(outcome=outcome)
    if after is not None:
        calls = calls.filter(id__gt=after).order_by("id")
    else:
        calls = calls.order_by("-id")
    return [tool_call_dict(call) for call in calls[:limit]]


# --- xiaozhi.config.json export ------------------------------------------------------
def xiaozhi_config_export(*, include_secrets: bool = False) -> dict:
    """The configuration as the TypeScript client's xiaozhi.config.json.

    Without include_secrets, endpoint tokens, server URLs' keys, env and
    header values are "***": importing such a file back here keeps the
    stored secrets of servers and endpoints it already has.
    Replicas, timeouts and the load-balance strategy of servers have no place
    in that format and are not exported.
    """
    endpoints = [
        e.url if include_secrets else e.masked_url for e in Endpoint.objects.order_by("id")
    ]
    servers: dict[str, dict] = {}
    server_config: dict[str, dict] = {}
    for server in McpServer.objects.prefetch_related("tools").order_by("name"):
        if server.uses_url:
            servers[server.name] = {
                "type": server.transport,
                "url": server.url if include_secrets else mask_upstream_url(server.url),
                "headers": dict(server.headers)
                if include_secrets
                else mask_mapping(server.headers),
            }
        else:
            entry: dict = {"command": server.command, "args": list(server.args or [])}
            entry["env"] = dict(server.env) if include_secrets else mask_mapping(server.env)
            servers[server.name] = entry
        tools = {
            tool.upstream_name: {
                "description": tool.effective_description,
                "enable": tool.enabled,
            }
            for tool in sorted(server.tools.all(), key=lambda t: t.upstream_name)
        }
        if tools:
            server_config[server.name] = {"tools": tools}
    return {
        "mcpEndpoint": endpoints,
        "mcpServers": servers,
        "mcpServerConfig": server_config,
        "connectionOptions": options_to_json(PoolOptions.load()),
    }
