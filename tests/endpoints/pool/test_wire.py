"""The hub's MCP server side as peers see it: the real SDK client, and the xiaozhi broker's
sequence exactly (docs/protocols.md, "xiaozhi MCP endpoint wire protocol")."""

import asyncio
import json

import pytest
from mcp import types

from endpoints.pool import (
    EndpointPool,
    ToolNotFound,
    ToolTimeout,
    ToolUnavailable,
)
from tests.endpoints.peers import XiaozhiPeer

from .conftest import endpoint, wait_state, wait_until


async def test_sdk_client_round_trip(pool, peer):
    await pool.apply([endpoint(1, peer)])
    conn = await peer.wait_connection()
    assert conn.initialize_result.server_info.name == "xiaozhi-hub"
    assert conn.initialize_result.capabilities.tools.list_changed is True

    tools = await conn.list_tools()
    assert {t.name for t in tools.tools} == {"hub__status", "hub__echo"}
    echo = await conn.call_tool("hub__echo", {"text": "你好 hub"})
    assert echo.is_error is False and echo.content[0].text == "你好 hub"
    status = await conn.call_tool("hub__status", {})
    assert json.loads(status.content[0].text)["connectedConnections"] == 1
    await conn.ping()  # the SDK raises on an error answer

    await pool.notify_tools_changed()
    await conn.wait_notification("notifications/tools/list_changed")
    status = await wait_state(pool, 1, "connected")
    assert status.tool_calls == 2


async def test_reference_sequence_exact_replies(pool):
    async with XiaozhiPeer("scripted") as peer:
        await pool.apply([endpoint(1, peer)])
        await peer.wait_connection()
        await asyncio.wait_for(_until(lambda: len(peer.reference_replies) == 4), 5)
        init, tools, ping, call = (json.loads(frame) for frame in peer.reference_replies)
        conn = peer.connections[0]

    version = init["result"]["serverInfo"]["version"]
    assert isinstance(version, str) and version
    assert init == {
        "jsonrpc": "2.0",
        "id": 0,
        "result": {
            "protocolVersion": "2024-11-05",
            "capabilities": {"tools": {"listChanged": True}},
            "serverInfo": {"name": "xiaozhi-hub", "version": version},
        },
    }
    assert tools["id"] == 1
    assert [t["name"] for t in tools["result"]["tools"]] == ["hub__status", "hub__echo"]
    assert set(tools["result"]["tools"][1]) == {"name", "description", "inputSchema"}
    assert ping == {"jsonrpc": "2.0", "id": 2, "result": {}}
    assert call == {
        "jsonrpc": "2.0",
        "id": 3,
        "result": {"content": [{"type": "text", "text": "你好"}], "isError": False},
    }
    # notifications/initialized was never answered: exactly one reply per request.
    replies = [json.loads(f) for f in conn.frames if "method" not in json.loads(f)]
    assert [r["id"] for r in replies] == [0, 1, 2, 3]


async def _until(predicate):
    while not predicate():
        await asyncio.sleep(0.01)


@pytest.fixture
async def scripted(pool):
    async with XiaozhiPeer("scripted") as peer:
        await pool.apply([endpoint(1, peer)])
        conn = await peer.wait_connection()
        await asyncio.wait_for(_until(lambda: len(peer.reference_replies) == 4), 5)
        yield conn


async def test_error_answers(scripted, pool):
    conn = scripted
    unknown = await conn.request("resources/list", {})
    assert unknown["error"]["code"] == -32601

    await conn.send_raw("this is {not json")
    parse_error = await conn.next_unmatched()
    assert parse_error["id"] is None and parse_error["error"]["code"] == -32700

    bad_params = await conn.request("tools/call", {"name": 42})
    assert bad_params["error"]["code"] == -32602
    bad_args = await conn.request("tools/call", {"name": "hub__echo", "arguments": [1]})
    assert bad_args["error"]["code"] == -32602
    bad_cursor = await conn.request("tools/list", {"cursor": 5})
    assert bad_cursor["error"]["code"] == -32602
    not_object = await conn.request("ping", ["x"])
    assert not_object["error"]["code"] == -32602

    await conn.send_raw("[1, 2]")
    invalid = await conn.next_unmatched()
    assert invalid["id"] is None and invalid["error"]["code"] == -32600
    await conn.send_raw(b"\xff\xfe binary")
    assert (await conn.next_unmatched())["error"]["code"] == -32700

    paged = await conn.request("tools/list", {"cursor": "page-2"})
    assert len(paged["result"]["tools"]) == 2  # cursor tolerated
    string_id = await conn.request("ping", {}, request_id="abc")
    assert string_id == {"jsonrpc": "2.0", "id": "abc", "result": {}}

    # Notifications (known or not) are never answered; the connection stays up.
    await conn.send_raw('{"jsonrpc":"2.0","method":"notifications/whatever"}')
    await conn.send_raw('{"jsonrpc":"2.0","method":"notifications/initialized"}')
    after = await conn.request("ping", {})
    assert after["result"] == {}
    assert conn._unmatched.empty()
    status = await wait_state(pool, 1, "connected")
    assert status.connected and status.initialized


async def test_unknown_protocol_version_gets_2024_11_05(scripted):
    reply = await scripted.request("initialize", {"protocolVersion": "1999-01-01"}, request_id=0)
    assert reply["result"]["protocolVersion"] == "2024-11-05"
    newer = await scripted.request("initialize", {"protocolVersion": "2025-06-18"})
    assert newer["result"]["protocolVersion"] == "2025-06-18"
    missing = await scripted.request("initialize", {})
    assert missing["error"]["code"] == -32602


class TroubledRegistry:
    """Tools that fail in every way a registry may; `slow` blocks until released."""

    def __init__(self):
        self.release = asyncio.Event()
        self.running = 0
        self.most_running = 0

    async def list_tools(self):
        return [types.Tool(name="slow", inputSchema={"type": "object"})]

    async def call_tool(self, name, arguments):
        if name == "slow":
            self.running += 1
            self.most_running = max(self.most_running, self.running)
            await self.release.wait()
            self.running -= 1
            return types.CallToolResult(content=[types.TextContent(type="text", text="done")])
        errors = {
            "missing": ToolNotFound("missing"),
            "down": ToolUnavailable("server 'x' is down"),
            "late": ToolTimeout("after 30 s"),
            "broken": RuntimeError("boom ws://h/?token=SECRET"),
        }
        if name == "wrong-type":
            return {"content": []}
        raise errors[name]


async def test_tool_errors_and_concurrent_calls():
    registry = TroubledRegistry()
    pool = EndpointPool(registry=registry)
    try:
        async with XiaozhiPeer("scripted") as peer:
            await pool.apply([endpoint(1, peer)])
            conn = await peer.wait_connection()
            codes = {}
            for name in ("missing", "down", "late", "broken", "wrong-type"):
                reply = await conn.request("tools/call", {"name": name, "arguments": {}})
                codes[name] = reply["error"]["code"]
                assert reply["error"]["message"]
                assert "SECRET" not in reply["error"]["message"]
            assert codes == {
                "missing": -32601,
                "down": -32001,
                "late": -32002,
                "broken": -32000,
                "wrong-type": -32603,
            }

            calls = [
                asyncio.create_task(conn.request("tools/call", {"name": "slow"})) for _ in range(3)
            ]
            await asyncio.wait_for(_until(lambda: registry.running == 3), 5)
            # Other requests are answered while the calls are in flight.
            assert (await conn.request("ping", {}))["result"] == {}
            registry.release.set()
            replies = await asyncio.gather(*calls)
            assert registry.most_running == 3
            assert all(r["result"]["content"][0]["text"] == "done" for r in replies)
    finally:
        await pool.close()


async def test_a_hanging_tool_is_answered_with_a_timeout():
    registry = TroubledRegistry()
    pool = EndpointPool(registry=registry, tool_call_timeout=0.2)
    try:
        async with XiaozhiPeer("scripted") as peer:
            await pool.apply([endpoint(1, peer)])
            conn = await peer.wait_connection()
            reply = await conn.request("tools/call", {"name": "slow"})
            assert reply["error"]["code"] == -32002
    finally:
        await pool.close()


async def test_tool_changes_reconnect_endpoints_that_ask_for_it_and_notify_the_rest(pool):
    async with XiaozhiPeer() as notified, XiaozhiPeer() as redialled:
        await pool.apply(
            [endpoint(1, notified), endpoint(2, redialled, reconnect_on_tools_change=True)]
        )
        first = await redialled.wait_connection()
        await notified.wait_connection()
        await wait_state(pool, 2, "connected")

        await pool.notify_tools_changed()
        await notified.connections[0].wait_notification("notifications/tools/list_changed")
        await wait_until(lambda: len(redialled.connections) == 2)
        await asyncio.wait_for(first.closed.wait(), 5)
        assert "notifications/tools/list_changed" not in first.notifications
        assert len(notified.connections) == 1

        # Switching the option on or off keeps the live connection.
        await pool.apply(
            [endpoint(1, notified, reconnect_on_tools_change=True), endpoint(2, redialled)]
        )
        assert len(notified.connections) == 1 and not notified.connections[0].closed.is_set()
