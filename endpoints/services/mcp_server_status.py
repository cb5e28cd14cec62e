"""The pool worker's reports of the upstream MCP servers: listed tools and live status.

No reload is sent from here: the worker that stores them already runs what it lists.
"""

from __future__ import annotations

import dataclasses

from django.db import transaction
from django.utils import timezone

from endpoints.models import McpServer, Tool
from endpoints.upstreams.naming import exposed_name
from endpoints.upstreams.records import ServerStatus, UpstreamTool
from xiaozhi_hub.masking import mask_text


def tool_catalog_store(*, server_id: int, tools: list[UpstreamTool]) -> None:
    """Upsert the tools a server listed; tools it no longer lists become unavailable.

    Rows are never deleted here (the operator's settings survive), and no
    reload is sent: the worker that calls this already applies the listing.
    """
    server = McpServer.objects.filter(pk=server_id).only("name").first()
    if server is None:
        return  # deleted meanwhile
    listed = {tool.name: tool for tool in tools}
    with transaction.atomic():
        Tool.objects.bulk_create(
            [
                Tool(
                    server_id=server_id,
                    upstream_name=tool.name,
                    exposed_name=exposed_name(server.name, tool.name),
                )
                for tool in tools
            ],
            ignore_conflicts=True,  # existing rows (another worker's store) stay
        )
        changed = []
        for row in Tool.objects.filter(server_id=server_id, upstream_name__in=list(listed)):
            tool = listed[row.upstream_name]
            schema = tool.input_schema or {}
            if (row.description, row.input_schema, row.available) != (
                tool.description or "",
                schema,
                True,
            ):
                row.description, row.input_schema, row.available = (
                    tool.description or "",
                    schema,
                    True,
                )
                changed.append(row)
        Tool.objects.bulk_update(changed, ["description", "input_schema", "available"])
        Tool.objects.filter(server_id=server_id, available=True).exclude(
            upstream_name__in=list(listed)
        ).update(available=False)


def mcp_server_status_store(*, status: ServerStatus) -> None:
    """The runtime's status of one server (masked once more: it reaches HTML and REST)."""
    data = dataclasses.asdict(status)
    data["last_error"] = mask_text(data["last_error"] or "")
    for replica in data["replicas"]:
        replica["last_error"] = mask_text(replica["last_error"] or "")
        replica["label"] = mask_text(replica["label"] or "")
    McpServer.objects.filter(pk=status.server_id).update(
        state=status.state,
        status=data,
        last_error=data["last_error"],
        status_updated_at=timezone.now(),
    )
