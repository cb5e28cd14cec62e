"""Upstream MCP servers aggregated behind an endpoint, seen by a real XiaozhiPeer."""

import asyncio
import os
import signal
import time

from endpoints.upstreams.config import ReplicaConfig, ServerConfig, ToolSettings
from endpoints.upstreams.manager import DEBOUNCE
from tests.endpoints.pool.conftest import wait_until
from tests.endpoints.upstream_servers import http_upstream

from .conftest import alive, request_error, seen_by, stdio_server

BASE = {
    "add", "echo", "slow", "boom", "fail", "whoami", "seen", "rendezvous", "weather.get",
    "toggle_extra",
}  # fmt: skip


async def test_stdio_and_http_tools_listed_and_called(hub, recorder):
    async with http_upstream("streamable-http", name="web") as web:
        await hub.manager.apply(
            [
                stdio_server(1, "local", tools=60, page_size=25),
                ServerConfig(
                    id=2, name="web", transport="streamable-http", replicas=(web.replica(),)
                ),
            ]
        )
        await hub.wait_ready(1, tools=len(BASE) + 60)  # 3 pages of 25: pagination followed
        await hub.wait_ready(2, tools=len(BASE))
        await hub.wait_offered("web__add")
        await hub.wait_offered("local__gen_0059")
        names = await hub.names()
        assert names[:2] == ["hub__status", "hub__echo"]  # builtin first
        assert "local__weather_get" in names and "weather.get" not in str(names)  # sanitised
        assert len(names) == 2 + (len(BASE) + 60) + len(BASE)

        result = await hub.connection.call_tool("local__add", {"a": 2, "b": 3})
        assert result.content[0].text == "5" and not result.is_error
        result = await hub.connection.call_tool("web__echo", {"text": "héllo"})
        assert result.content[0].text == "héllo"
        result = await hub.connection.call_tool("local__weather_get", {"city": "Oslo"})
        assert result.content[0].text == "sunny in Oslo"
        # a tool's own isError passes through unchanged
        result = await hub.connection.call_tool("web__fail", {})
        assert result.is_error and result.content[0].text == "failed on purpose"
        # a raising tool: the SDK upstream answers isError, passed through
        result = await hub.connection.call_tool("local__boom", {})
        assert result.is_error

        await wait_until(lambda: len(recorder.calls) == 5)
        outcomes = [(c.tool, c.outcome, c.endpoint_id) for c in recorder.calls]
        assert ("local__add", "ok", 1) in outcomes
        assert ("web__fail", "tool_error", 1) in outcomes
        assert {c.server_id for c in recorder.calls} == {1, 2}
        assert {sid for sid, _ in recorder.catalogs} == {1, 2}
        assert hub.manager.server_statuses()[0].state == "ready"


async def test_sse_upstream(hub):
    async with http_upstream("sse", name="events") as events:
        await hub.manager.apply(
            [ServerConfig(id=3, name="events", transport="sse", replicas=(events.replica(),))]
        )
        await hub.wait_ready(3, tools=len(BASE))
        await hub.wait_offered("events__whoami")
        result = await hub.connection.call_tool("events__whoami", {})
        assert result.content[0].text == f"events:{events.pid}"


async def test_settings_collisions_and_list_changed(hub, recorder):
    await hub.manager.apply([stdio_server(1, "one")])
    await hub.wait_ready(1)
    await hub.wait_offered("one__echo")
    before = hub.notifications()

    # disable a tool and override a description: the peer is told and sees it
    await hub.manager.set_tool_settings(
        {(1, "echo"): ToolSettings(enabled=False), (1, "add"): ToolSettings(description="Sum!")}
    )
    await wait_until(lambda: hub.notifications() > before)
    tools = {t.name: t for t in (await hub.connection.list_tools()).tools}
    assert "one__echo" not in tools
    assert tools["one__add"].description == "Sum!"
    error = await request_error(hub, "one__echo", {"text": "x"})
    assert error["code"] == -32601
    assert (await request_error(hub, "nobody__add"))["code"] == -32601
    assert (await request_error(hub, "no_separator"))["code"] == -32601

    # the same settings again: no notification
    count = hub.notifications()
    changed = recorder.tools_changed
    await hub.manager.set_tool_settings(
        {(1, "echo"): ToolSettings(enabled=False), (1, "add"): ToolSettings(description="Sum!")}
    )
    # A notification goes out DEBOUNCE after the change that scheduled it. Let a
    # wrongly scheduled one set its timer (sleep(0)), then set a later one: due
    # timers run in deadline order, so after this sleep it would have counted.
    await asyncio.sleep(0)
    await asyncio.sleep(2 * DEBOUNCE)
    await hub.connection.ping()  # frames sent before the pong have reached the peer
    assert hub.notifications() == count and recorder.tools_changed == changed

    # the upstream adds a tool and sends list_changed: re-listed, peer notified
    result = await hub.connection.call_tool("one__toggle_extra", {})
    assert result.content[0].text == "added"
    await hub.wait_offered("one__extra")
    await wait_until(lambda: hub.notifications() > count)
    await wait_until(lambda: any(c.outcome == "not_found" for c in recorder.calls))


async def test_collisions_are_reported_not_shadowed(hub):
    # The upstream offers weather.get and weather:get: both sanitise to weather_get.
    await hub.manager.apply([stdio_server(1, "dup", clash=True), stdio_server(2, "dup2")])
    await hub.wait_ready(1)
    await hub.wait_ready(2)
    manager = hub.manager
    collisions = manager.collisions()
    assert len(collisions) == 1
    assert collisions[0].exposed_name == "dup__weather_get"
    assert collisions[0].winner == "dup:weather.get"  # '.' sorts before ':'
    assert collisions[0].losers == ((1, "weather:get"),)
    exposed = {(e.server_id, e.upstream.name): e for e in manager.exposed()}
    assert exposed[(1, "weather:get")].collision == "dup:weather.get"
    names = await hub.names()
    assert names.count("dup__weather_get") == 1


async def test_failover_when_a_replica_is_killed(hub, recorder):
    await hub.manager.apply([stdio_server(1, "rep", replicas=2)])
    await wait_until(lambda: all(r.ready for r in hub.manager.server(1).replicas), timeout=15)
    replicas = hub.manager.server(1).replicas
    pids = [r.pid for r in replicas]
    assert all(pids), pids
    seen = set()
    for _ in range(4):
        seen.add((await hub.connection.call_tool("rep__whoami", {})).content[0].text)
    assert seen == {f"rep-0:{pids[0]}", f"rep-1:{pids[1]}"}  # round-robin over both

    # A call in flight on a replica when that replica is SIGKILLed: its transport
    # fails under the call, which moves to the other replica within its deadline.
    in_flight = asyncio.ensure_future(hub.connection.call_tool("rep__slow", {"seconds": 1}))
    victim = await wait_until(lambda: next((r for r in replicas if r.inflight), None))
    survivor = replicas[1 - victim.index]
    # The upstream process itself has the call (not just the hub's end of the pipe).
    while "slow" not in await seen_by(victim):
        await asyncio.sleep(0.01)
    os.kill(victim.pid, signal.SIGKILL)
    result = await in_flight
    assert not result.is_error and result.content[0].text == "slept 1.0", result
    record = await wait_until(
        lambda: next((c for c in recorder.calls if c.tool == "rep__slow"), None)
    )
    assert (record.outcome, record.failovers, record.replica) == ("ok", 1, survivor.index)

    # Every call meanwhile is answered (by the survivor, or by the victim once back).
    for _ in range(10):
        result = await hub.connection.call_tool("rep__whoami", {})
        assert not result.is_error
    await wait_until(lambda: victim.ready and victim.pid not in (None, *pids), timeout=10)
    assert victim.restarts >= 1
    seen = {(await hub.connection.call_tool("rep__whoami", {})).content[0].text for _ in range(4)}
    assert len(seen) == 2  # the restarted one rejoined


async def test_all_replicas_down_is_unavailable(hub):
    config = stdio_server(1, "gone", replicas=1)
    await hub.manager.apply([config])
    await hub.wait_ready(1)
    await hub.wait_offered("gone__add")
    os.kill(hub.manager.server(1).replicas[0].pid, signal.SIGKILL)
    await wait_until(lambda: not hub.manager.server(1).ready)
    error = await request_error(hub, "gone__add", {"a": 1, "b": 1})
    assert error["code"] == -32001, error


async def test_timeout_malformed_and_pool_keeps_serving(hub, recorder):
    await hub.manager.apply(
        [stdio_server(1, "t", call_timeout=0.3), stdio_server(2, "bad", malformed=True)]
    )
    await hub.wait_ready(1)
    await hub.wait_ready(2)
    await hub.wait_offered("bad__add")
    await hub.manager.set_tool_settings({(1, "echo"): ToolSettings(timeout=5.0)})
    started = time.monotonic()
    error = await request_error(hub, "t__slow", {"seconds": 30})
    elapsed = time.monotonic() - started
    assert error["code"] == -32002, error
    # Answered by the 0.3 s timeout, not by the tool (30 s): no earlier than the
    # timeout, and far from the tool's end however loaded the box is.
    assert 0.3 <= elapsed < 10, elapsed
    error = await request_error(hub, "bad__add", {"a": 1, "b": 2})
    assert error["code"] == -32000 and "malformed" in error["message"]
    # still serving, on both servers
    assert (await hub.connection.call_tool("t__add", {"a": 1, "b": 1})).content[0].text == "2"
    assert hub.manager.server(2).ready
    await wait_until(lambda: {c.outcome for c in recorder.calls} >= {"timeout", "error", "ok"})


async def test_concurrent_calls_from_two_endpoints(hub):
    from tests.endpoints.peers import XiaozhiPeer
    from tests.endpoints.pool.conftest import endpoint

    await hub.manager.apply([stdio_server(1, "c")])
    await hub.wait_ready(1)
    async with XiaozhiPeer() as other:
        await hub.pool.upsert(endpoint(2, other))
        second = await other.wait_connection()
        await hub.wait_offered("c__rendezvous")
        # No rendezvous call is answered before all 50 have reached the upstream:
        # 50 answers prove the hub had all 50 in flight at once, from both
        # endpoints. (How fast that is on this machine: bench/upstream.py.)
        together = {"group": "two-endpoints", "count": 50}
        results = await asyncio.gather(
            *(
                conn.call_tool("c__rendezvous", together)
                for conn in [hub.connection] * 25 + [second] * 25
            )
        )
    assert [r.content[0].text for r in results if not r.is_error] == ["50 together"] * 50


async def test_missing_command_and_close_leaves_no_child(hub, recorder):
    missing = ServerConfig(
        id=9,
        name="missing",
        transport="stdio",
        replicas=(ReplicaConfig(command="/nonexistent/mcp-server-binary"),),
    )
    await hub.manager.apply([missing, stdio_server(1, "live", replicas=2)])
    await wait_until(
        lambda: any(
            s.server_id == 9 and s.state in ("failed", "restarting") for s in recorder.statuses
        ),
        timeout=10,
    )
    status = hub.manager.server(9).status()
    assert status.state in ("failed", "restarting")
    assert "command not found" in status.last_error
    await wait_until(lambda: all(r.ready for r in hub.manager.server(1).replicas), timeout=15)
    pids = [r.pid for r in hub.manager.server(1).replicas]
    await hub.manager.close()
    assert not any(alive(pid) for pid in pids)
