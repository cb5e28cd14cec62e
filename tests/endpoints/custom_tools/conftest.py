"""Custom tools served by a real UpstreamManager + EndpointPool to a real XiaozhiPeer
(the mcp SDK's ClientSession over WebSocket): the `hub` fixture of the upstream tests."""

from __future__ import annotations

import pytest

from endpoints.upstreams.custom.config import CustomToolConfig
from tests.endpoints.upstreams import conftest as upstream

from .local_http import LocalHttp

Hub = upstream.Hub
request_error = upstream.request_error
hub = upstream.hub  # the fixtures of the upstream tests, offered to these too
recorder = upstream.recorder

OBJECT = {"type": "object", "properties": {}}


def custom(
    tool_id: int,
    name: str,
    handler: dict,
    *,
    schema: dict | None = None,
    timeout: float = 5.0,
    enabled: bool = True,
    platform: dict | None = None,
    description: str = "",
) -> CustomToolConfig:
    return CustomToolConfig(
        id=tool_id,
        name=name,
        kind=handler["type"],
        description=description or f"the {name} tool",
        input_schema=schema if schema is not None else OBJECT,
        handler=handler,
        enabled=enabled,
        timeout=timeout,
        platform=platform or {},
    )


async def offer(target: Hub, *tools: CustomToolConfig) -> None:
    """Give the manager these custom tools and wait until the peer sees them listed."""
    await target.manager.set_custom_tools(tools)
    for tool in tools:
        if tool.enabled:
            await target.wait_offered(tool.name)


async def call(target: Hub, name: str, arguments: dict | None = None):
    return await target.connection.call_tool(name, arguments or {})


def text(result) -> str:
    return "\n".join(c.text for c in result.content)


@pytest.fixture
def web():
    with LocalHttp() as server:
        yield server
