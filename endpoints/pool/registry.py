"""Where the tools the pool serves come from.

The pool only reads a `ToolRegistry`. In the hub that is the aggregator of the
upstream MCP servers (endpoints/upstreams/manager.py), which also offers the
`BuiltinToolRegistry`'s two tools: `hub__status` (the pool's status summary)
and `hub__echo` (a connectivity test). They are test tools: the worker offers
them only with HUB_BUILTIN_TOOLS (endpoints/worker/service.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextvars import ContextVar
from typing import Protocol

from mcp import types

# The endpoint whose peer sent the tools/call being served (for the call log);
# set by the connection around each answer, None for calls from elsewhere.
calling_endpoint: ContextVar[int | None] = ContextVar("calling_endpoint", default=None)


class ToolNotFound(Exception):
    """No tool with that name: answered with JSON-RPC -32601."""


class ToolUnavailable(Exception):
    """The tool exists but cannot run now (its server is down): -32001."""


class ToolTimeout(Exception):
    """The tool did not finish in time: -32002."""


class ToolInvalidArguments(Exception):
    """The arguments do not match the tool's inputSchema: JSON-RPC -32602."""


class ToolRegistry(Protocol):
    async def list_tools(self) -> list[types.Tool]: ...

    async def call_tool(self, name: str, arguments: dict) -> types.CallToolResult: ...


def text_result(text: str, *, is_error: bool = False) -> types.CallToolResult:
    content = [types.TextContent(type="text", text=text)]
    return types.CallToolResult(content=content, isError=is_error)


class BuiltinToolRegistry:
    """The hub's own tools."""

    def __init__(self, status_provider: Callable[[], dict] | None = None) -> None:
        self._status_provider = status_provider
        self._tools = [
            types.Tool(
                name="hub__status",
                description="Status of the xiaozhi hub: endpoints connected and healthy.",
                inputSchema={"type": "object", "properties": {}},
            ),
            types.Tool(
                name="hub__echo",
                description="Returns the given text unchanged (a connectivity test).",
                inputSchema={
                    "type": "object",
                    "properties": {"text": {"type": "string", "description": "Text to echo"}},
                    "required": ["text"],
                },
            ),
        ]

    async def list_tools(self) -> list[types.Tool]:
        return list(self._tools)

    async def call_tool(self, name: str, arguments: dict) -> types.CallToolResult:
        if name == "hub__echo":
            text = arguments.get("text")
            if not isinstance(text, str):
                return text_result("hub__echo needs a string argument 'text'", is_error=True)
            return text_result(text)
        if name == "hub__status":
            if self._status_provider is None:
                raise ToolUnavailable("hub__status has no status source in this process")
            return text_result(json.dumps(self._status_provider(), ensure_ascii=False))
        raise ToolNotFound(f"unknown tool {name!r}")
