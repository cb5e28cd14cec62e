"""Writes of the upstream MCP servers and the operator's settings of their tools.

Each write ends with `pool_notify_changed()`, so the pool workers apply it within
a second (they also re-read the rows every reconcile).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from endpoints.models import McpServer, Tool
from endpoints.pool_requests.reload import pool_notify_changed
from endpoints.services.fields import set_fields
from endpoints.upstreams.naming import exposed_name
from xiaozhi_hub.masking import mask_text

# The operator's fields of an MCP server, in the order forms show them.
SERVER_FIELDS = (
    "name",
    "transport",
    "command",
    "args",
    "env",
    "cwd",
    "replicas",
    "url",
    "headers",
    "replica_urls",
    "enabled",
    "call_timeout",
    "load_balance",
)

# What a stdio server runs on the worker: changing any of it needs endpoints.run_commands.
COMMAND_FIELDS = ("command", "args", "env", "cwd")

TOOL_FIELDS = {"enabled", "description_override", "timeout"}


def mcp_server_runs_commands(*, server: McpServer | None, data: dict[str, Any]) -> bool:
    """Whether writing `data` (model fields) to `server` (None: a new one) is a change
    that needs the right to run commands: the server is stdio before or after, or
    what it would run changes."""
    before = server or McpServer()
    if server is not None and server.transport == "stdio":
        return True
    if data.get("transport", before.transport) == "stdio":
        return True
    return any(field in data and data[field] != getattr(before, field) for field in COMMAND_FIELDS)


def _check_command_allowed(server: McpServer) -> None:
    allowed = settings.HUB_STDIO_ALLOWED_COMMANDS
    if server.transport != "stdio" or not allowed or server.command.strip() in allowed:
        return
    raise ValidationError(
        {
            "command": f"{mask_text(server.command.strip()[:200])!r} is not an allowed command; "
            f"HUB_STDIO_ALLOWED_COMMANDS allows only: {', '.join(allowed)}"
        }
    )


def mcp_server_save(*, server: McpServer) -> McpServer:
    """Validate and save a server; its tools' exposed names follow a rename.

    A stdio server's command must be in HUB_STDIO_ALLOWED_COMMANDS when that is set.
    """
    server.full_clean()
    _check_command_allowed(server)
    with transaction.atomic():
        server.save()
        for tool in server.tools.all():
            name = exposed_name(server.name, tool.upstream_name)
            if tool.exposed_name != name:
                tool.exposed_name = name
                tool.save(update_fields=["exposed_name"])
    pool_notify_changed()
    return server


def mcp_server_create(**fields: Any) -> McpServer:
    server = McpServer()
    set_fields(server, fields, allowed=SERVER_FIELDS, what="MCP server")
    return mcp_server_save(server=server)


def mcp_server_update(*, server_id: int, data: dict[str, Any]) -> McpServer:
    with transaction.atomic():
        server = McpServer.objects.select_for_update().get(pk=server_id)
        set_fields(server, data, allowed=SERVER_FIELDS, what="MCP server")
        return mcp_server_save(server=server)


def mcp_server_delete(*, server_id: int) -> None:
    McpServer.objects.get(pk=server_id).delete()
    pool_notify_changed()


def mcp_server_set_enabled(*, server_ids: Iterable[int], enabled: bool) -> int:
    changed = McpServer.objects.filter(pk__in=list(server_ids)).exclude(enabled=enabled)
    count = changed.update(enabled=enabled, updated_at=timezone.now())
    if count:
        pool_notify_changed()
    return count


def mcp_servers_refresh() -> None:
    """Ask the workers to re-read servers and tools now (the admin's "refresh tools")."""
    pool_notify_changed()


def tool_update(*, tool_id: int, data: dict[str, Any]) -> Tool:
    """Change the operator's settings of one tool (enabled, description_override, timeout)."""
    with transaction.atomic():
        tool = Tool.objects.select_for_update().get(pk=tool_id)
        set_fields(
            tool,
            data,
            allowed=TOOL_FIELDS,
            what="tool",
            none_as_blank={"description_override"},
        )
        tool.full_clean()
        tool.save()
        pool_notify_changed()
    return tool


def tool_set_enabled(*, tool_ids: Iterable[int], enabled: bool) -> int:
    count = (
        Tool.objects.filter(pk__in=list(tool_ids)).exclude(enabled=enabled).update(enabled=enabled)
    )
    if count:
        pool_notify_changed()
    return count
