"""The hub's configuration as the TypeScript client's xiaozhi.config.json (the export)."""

from __future__ import annotations

from endpoints.mcp_server_secrets import mask_mapping, mask_upstream_url
from endpoints.models import Endpoint, McpServer, PoolOptions
from endpoints.options import options_to_json


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
