"""Reads of the upstream MCP servers, their tools and the tool-call log: REST/command dicts
(secrets masked) and the configs every pool worker runs."""

from __future__ import annotations

import logging

from django.db.models import Count, Exists, OuterRef, Q

from endpoints.mcp_server_secrets import mask_mapping, mask_upstream_url
from endpoints.models import McpServer, Tool, ToolCall
from endpoints.selectors.endpoint import live_workers
from endpoints.selectors.tool_stats import tool_call_stats, with_call_stats
from endpoints.upstreams.config import ServerConfig, ToolKey, ToolSettings
from xiaozhi_hub.masking import mask_text

logger = logging.getLogger(__name__)


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
        "callStats": tool_call_stats(tool),
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
    """Tools by server (id or name) and enabled flag, ordered by exposed name, with their
    numbers from the call log."""
    tools = with_call_stats(tools_with_clashes()).order_by("exposed_name")
    if server:
        by = Q(server__name=server) | (Q(server_id=int(server)) if server.isdigit() else Q())
        tools = tools.filter(by)
    if enabled is not None:
        tools = tools.filter(enabled=enabled)
    return tools


def tool_list(*, server: str | None = None, enabled: bool | None = None) -> list[dict]:
    return [tool_dict(tool) for tool in tool_queryset(server=server, enabled=enabled)]


def tool_detail(*, tool_id: int) -> dict:
    return tool_dict(with_call_stats(tools_with_clashes()).get(pk=tool_id))


def tool_by_exposed_name(*, name: str) -> Tool | None:
    return Tool.objects.select_related("server").filter(exposed_name=name).first()


def tool_call_target_worker() -> str | None:
    """The live pool worker with the freshest heartbeat (every worker runs every server)."""
    workers = sorted(live_workers(), key=lambda w: w.heartbeat_at, reverse=True)
    return workers[0].name if workers else None


# --- the tool-call log -----------------------------------------------------------------
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
