"""The hub's configuration as xiaozhi-client's xiaozhi.config.json (the export)."""

from __future__ import annotations

from endpoints.config_file import CONNECTION_KEYS, HUB_KEY, is_modelscope_url
from endpoints.custom_tool_shape import (
    custom_tool_to_client,
    mask_handler,
    mask_platform_settings,
    platform_to_client,
)
from endpoints.mcp_server_secrets import mask_mapping, mask_upstream_url
from endpoints.models import CustomTool, Endpoint, McpServer, Platform, PoolOptions
from endpoints.options import BY_FIELD, options_to_json, value_to_json
from xiaozhi_hub.masking import MASK


def _modelscope_key(servers: list[McpServer]) -> str | None:
    """The key xiaozhi-client's `modelscope.apiKey` would hold: the one bearer token
    that every ModelScope-hosted server sends, when there is one."""
    tokens = set()
    for server in servers:
        if not (server.uses_url and is_modelscope_url(server.url)):
            continue
        value = next((v for k, v in server.headers.items() if k.lower() == "authorization"), "")
        scheme, _, token = value.partition(" ")
        tokens.add(token.strip() if scheme.lower() == "bearer" else "")
    return tokens.pop() if len(tokens) == 1 and "" not in tokens else None


def xiaozhi_config_export(*, include_secrets: bool = False) -> dict:
    """The configuration as xiaozhi-client's xiaozhi.config.json, which imports back here.

    Without include_secrets, endpoint tokens, server URLs' keys, env and header
    values, platform tokens, the ModelScope key and custom tools' secrets are
    "***": importing such a file back here keeps the secrets already stored.
    Replicas, timeouts and the load-balance strategy of servers have no place
    in that format and are not exported. What xiaozhi-client has no key for
    (endpoints' peer profiles, custom tools switched off) goes under `xiaozhiHub`,
    which it ignores.
    """
    endpoints = list(Endpoint.objects.order_by("id"))
    urls = [e.url if include_secrets else e.masked_url for e in endpoints]
    profiles = {
        url: {"peerProfile": e.peer_profile}
        for url, e in zip(urls, endpoints, strict=True)
        if e.peer_profile != "auto"
    }
    servers: dict[str, dict] = {}
    server_config: dict[str, dict] = {}
    rows = list(McpServer.objects.prefetch_related("tools").order_by("name"))
    for server in rows:
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
    options = PoolOptions.load()
    config: dict = {
        "mcpEndpoint": urls,
        "mcpServers": servers,
        "mcpServerConfig": server_config,
        "connection": {
            key: value_to_json(BY_FIELD[field], getattr(options, field))
            for key, field in CONNECTION_KEYS.items()
        },
        "connectionOptions": options_to_json(options),
    }
    key = _modelscope_key(rows)
    if key:
        config["modelscope"] = {"apiKey": key if include_secrets else MASK}
    platforms = {
        p.name: platform_to_client(p) if include_secrets else mask_platform_settings(p.settings)
        for p in Platform.objects.order_by("name")
    }
    if platforms:
        config["platforms"] = platforms
    tools, switched_off = [], {}
    for tool in CustomTool.objects.order_by("name"):
        entry = custom_tool_to_client(tool)
        if not include_secrets:
            entry["handler"] = mask_handler(entry["handler"])
        tools.append(entry)
        if not tool.enabled and tool.kind != "function":  # a function is always off
            switched_off[tool.name] = {"enabled": False}
    if tools:
        config["customMCP"] = {"tools": tools}
    hub = {"endpoints": profiles, "customTools": switched_off}
    if any(hub.values()):
        config[HUB_KEY] = {key: value for key, value in hub.items() if value}
    return config
