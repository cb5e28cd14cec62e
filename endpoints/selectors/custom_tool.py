"""Reads of custom tools and platforms: REST/command/admin dicts (secrets masked) and
the configs every pool worker runs."""

from __future__ import annotations

from endpoints.custom_tool_shape import mask_handler, mask_platform_settings
from endpoints.models import CustomTool, Platform
from endpoints.upstreams.custom.config import CustomToolConfig


def custom_tool_configs() -> list[CustomToolConfig]:
    """What every pool worker offers besides the servers' tools (disabled ones included,
    so the runtime knows them), each proxy tool with its platform's settings."""
    platforms = {p.name: dict(p.settings or {}) for p in Platform.objects.all()}
    configs = []
    for tool in CustomTool.objects.order_by("id"):
        handler = dict(tool.handler or {})
        handler["type"] = tool.kind
        configs.append(
            CustomToolConfig(
                id=tool.pk,
                name=tool.name,
                kind=tool.kind,
                description=tool.description,
                input_schema=dict(tool.input_schema or {}),
                handler=handler,
                enabled=tool.enabled and tool.kind != "function",
                timeout=tool.timeout,
                platform=platforms.get(str(handler.get("platform", "")), {})
                if tool.kind == "proxy"
                else {},
            )
        )
    return configs


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def custom_tool_dict(tool: CustomTool) -> dict:
    """A custom tool for REST and commands: the handler's secrets masked."""
    return {
        "id": tool.pk,
        "name": tool.name,
        "kind": tool.kind,
        "description": tool.description,
        "inputSchema": tool.input_schema,
        "handler": mask_handler({**(tool.handler or {}), "type": tool.kind}),
        "enabled": tool.enabled,
        "disabledReason": tool.disabled_reason,
        "timeout": tool.timeout,
        "usageCount": tool.usage_count,
        "lastUsedAt": _iso(tool.last_used_at),
        "lastError": tool.last_error,
        "lastErrorAt": _iso(tool.last_error_at),
        "createdAt": _iso(tool.created_at),
        "updatedAt": _iso(tool.updated_at),
    }


def custom_tool_queryset(*, kind: str | None = None, enabled: bool | None = None):
    tools = CustomTool.objects.order_by("name")
    if kind:
        tools = tools.filter(kind=kind)
    if enabled is not None:
        tools = tools.filter(enabled=enabled)
    return tools


def custom_tool_list(*, kind: str | None = None, enabled: bool | None = None) -> list[dict]:
    return [custom_tool_dict(tool) for tool in custom_tool_queryset(kind=kind, enabled=enabled)]


def custom_tool_find(*, ref: str) -> CustomTool | None:
    """A tool by name, or by id when `ref` is a number no tool is named."""
    tool = CustomTool.objects.filter(name=ref).first()
    if tool is None and ref.isdigit():
        tool = CustomTool.objects.filter(pk=int(ref)).first()
    return tool


def platform_dict(platform: Platform) -> dict:
    return {
        "id": platform.pk,
        "name": platform.name,
        "settings": mask_platform_settings(platform.settings),
        "createdAt": _iso(platform.created_at),
        "updatedAt": _iso(platform.updated_at),
    }


def platform_queryset():
    return Platform.objects.order_by("name")
