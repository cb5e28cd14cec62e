"""Running one call of a custom tool: check the arguments, then the handler of its kind."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from mcp import types

from ...pool.registry import ToolInvalidArguments, ToolTimeout
from .arguments import argument_problem
from .chain import CallTool, run_chain
from .config import CustomToolConfig
from .coze import call_coze
from .http_handler import attempts_budget, call_http
from .script import run_script
from .text import error_result

# (server name, upstream tool name, arguments, timeout) → the server tool's result.
CallServerTool = Callable[[str, str, dict, float], Awaitable[types.CallToolResult]]

FUNCTION_REFUSED = "a JavaScript function cannot run in the hub"


class CustomToolRunner:
    def __init__(self, *, call_tool: CallTool, call_server_tool: CallServerTool) -> None:
        self._call_tool = call_tool
        self._call_server_tool = call_server_tool

    async def call(self, tool: CustomToolConfig, arguments: dict) -> types.CallToolResult:
        problem = argument_problem(tool.input_schema, arguments)
        if problem is not None:
            raise ToolInvalidArguments(problem)
        deadline = self.deadline(tool)
        try:
            async with asyncio.timeout(deadline):
                return await self._run(tool, arguments)
        except TimeoutError:
            raise ToolTimeout(
                f"custom tool {tool.name!r} did not finish within {deadline:g} s"
            ) from None

    @staticmethod
    def deadline(tool: CustomToolConfig) -> float:
        """Seconds the whole call may take: every attempt and pause of an HTTP tool."""
        if tool.kind == "http":
            return attempts_budget(tool.handler, tool.timeout)
        if tool.kind == "proxy":
            return attempts_budget(tool.handler.get("config") or {}, tool.timeout)
        return tool.timeout + (0.5 if tool.kind == "script" else 0.0)

    async def _run(self, tool: CustomToolConfig, arguments: dict) -> types.CallToolResult:
        handler = tool.handler
        kind = tool.kind
        if kind == "http":
            return await call_http(handler, arguments, tool.timeout)
        if kind == "proxy":
            if handler.get("platform") != "coze":
                return error_result(
                    f"the hub runs proxy tools for Coze only, not {handler.get('platform')!r}"
                )
            return await call_coze(handler, arguments, tool.timeout, tool.platform)
        if kind == "mcp":
            config = handler.get("config") or {}
            return await self._call_server_tool(
                str(config.get("serviceName", "")),
                str(config.get("toolName", "")),
                arguments,
                tool.timeout,
            )
        if kind == "chain":
            return await run_chain(handler, arguments, self._call_tool)
        if kind == "script":
            return await run_script(handler, arguments, tool.timeout)
        if kind == "function":
            return error_result(FUNCTION_REFUSED)
        return error_result(f"unknown custom tool kind {kind!r}")
