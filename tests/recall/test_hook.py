"""The pool worker's extra-tool hook (endpoints/worker/extra_tools.py) as recall uses
it: the namespace is reserved, calls of another endpoint's tool are unknown, and the
metrics count the calls under the namespace."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from mcp import types
from prometheus_client import CollectorRegistry

from endpoints.pool.registry import BuiltinToolRegistry, ToolNotFound, calling_endpoint
from endpoints.upstreams.naming import server_name_problem
from endpoints.upstreams.records import CallRecord
from endpoints.worker.extra_tools import ExtraToolsRegistry, extra_namespaces
from endpoints.worker.metrics import WorkerMetrics


def test_recall_registers_the_history_namespace_and_reserves_it():
    assert "history" in extra_namespaces()
    assert "reserved" in server_name_problem("history")
    assert "reserved" in server_name_problem("History")
    assert server_name_problem("histories") is None


class Fixed:
    namespace = "history"

    def load(self):
        return None

    def apply(self, loaded):
        return set()

    def tools_for(self, endpoint_id):
        if endpoint_id != 1:
            return []
        return [types.Tool(name="history__recent", inputSchema={"type": "object"})]

    async def call_tool(self, endpoint_id, name, arguments):
        return types.CallToolResult(content=[types.TextContent(type="text", text="ok")])


def test_the_registry_adds_tools_per_endpoint_and_records_calls():
    calls: list[CallRecord] = []

    async def record(call):
        calls.append(call)

    registry = ExtraToolsRegistry(BuiltinToolRegistry(), [Fixed()], on_call=record)

    async def as_endpoint(endpoint_id, work):
        calling_endpoint.set(endpoint_id)
        return await work()

    async def scenario():
        mine = await asyncio.create_task(as_endpoint(1, registry.list_tools))
        other = await asyncio.create_task(as_endpoint(2, registry.list_tools))
        nobody = await registry.list_tools()  # the admin's test calls: no endpoint
        ok = await asyncio.create_task(
            as_endpoint(1, lambda: registry.call_tool("history__recent", {}))
        )
        with pytest.raises(ToolNotFound):
            await asyncio.create_task(
                as_endpoint(2, lambda: registry.call_tool("history__recent", {}))
            )
        echo = await registry.call_tool("hub__echo", {"text": "base"})
        return mine, other, nobody, ok, echo

    mine, other, nobody, ok, echo = asyncio.run(scenario())
    assert [t.name for t in mine] == ["hub__status", "hub__echo", "history__recent"]
    assert [t.name for t in other] == [t.name for t in nobody] == ["hub__status", "hub__echo"]
    assert ok.content[0].text == "ok" and echo.content[0].text == "base"
    assert [(c.tool, c.endpoint_id, c.outcome) for c in calls] == [
        ("history__recent", 1, "ok"),
        ("history__recent", 2, "not_found"),
    ]


def test_metrics_count_extra_tools_under_their_namespace():
    metrics = WorkerMetrics(CollectorRegistry())
    at = datetime.now(UTC)
    for tool, outcome in (("history__search", "ok"), ("history__nope", "not_found")):
        metrics.on_call(CallRecord(tool, None, None, 1, at, 5.0, outcome))
    assert metrics.tool_calls.labels("history", "history__search", "ok")._value.get() == 1
    assert metrics.tool_calls.labels("", "unknown", "not_found")._value.get() == 1
