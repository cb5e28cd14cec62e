"""One endpoint peer cannot swell the worker (issue 13, item 5).

A peer that sends 10,000 tools/call requests at once used to get 10,000 tasks
and 10,000 upstream calls; one that also never read its replies kept them all
queued. Now at most PeerLimits.max_inflight requests of a connection run (the
rest are answered -32003 at once, nothing forwarded), and a peer that leaves
its replies unread is disconnected with a reason. Real websockets peers, a
real pool; memory and tasks are measured in this process, which runs the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import replace

import psutil
import pytest
from mcp import types
from websockets.exceptions import ConnectionClosed

from endpoints.pool import BuiltinToolRegistry, EndpointPool
from endpoints.pool.config import PeerLimits
from endpoints.pool.protocol import TOO_MANY_REQUESTS
from endpoints.pool.registry import text_result
from tests.endpoints.peers import XiaozhiPeer

from .conftest import FAST, endpoint, endpoint_tasks, wait_until

FLOOD = 10_000
MAX_INFLIGHT = 32
MB = 1 << 20
# One event loop runs the pool and the peers here, and the flood keeps it busy:
# pings get more time than FAST gives them, so only a real stall fails one.
PATIENT = replace(FAST, health_check_interval=15, connection_timeout=10)


class SlowUpstream(BuiltinToolRegistry):
    """The hub's tools plus `slow__wait`, an upstream tool that takes a while; counts its calls."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.running = 0
        self.most_running = 0

    async def list_tools(self) -> list[types.Tool]:
        wait = types.Tool(name="slow__wait", inputSchema={"type": "object", "properties": {}})
        return [*await super().list_tools(), wait]

    async def call_tool(self, name: str, arguments: dict) -> types.CallToolResult:
        if name != "slow__wait":
            return await super().call_tool(name, arguments)
        self.calls += 1
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            await asyncio.sleep(0.2)
            return text_result("done")
        finally:
            self.running -= 1


class Meter:
    """The most RSS and tasks this process had while the flood ran (sampled every 20 ms)."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.start_rss = self.process.memory_info().rss
        self.peak_rss = self.start_rss
        self.peak_tasks = len(asyncio.all_tasks())
        self._task: asyncio.Task | None = None

    async def _sample(self) -> None:
        while True:
            self.peak_rss = max(self.peak_rss, self.process.memory_info().rss)
            self.peak_tasks = max(self.peak_tasks, len(asyncio.all_tasks()))
            await asyncio.sleep(0.02)

    async def __aenter__(self) -> Meter:
        self._task = asyncio.create_task(self._sample())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    @property
    def growth_mb(self) -> float:
        return (self.peak_rss - self.start_rss) / MB


@pytest.fixture
async def flood_pool(request, status_log):
    upstream = SlowUpstream()
    send_timeout = getattr(request, "param", 1.0)
    limits = PeerLimits(
        max_inflight=MAX_INFLIGHT, send_queue_bytes=64 * 1024, send_timeout=send_timeout
    )
    pool = EndpointPool(registry=upstream, on_status=status_log, peer_limits=limits)
    pool.upstream = upstream
    yield pool
    await pool.close()
    assert endpoint_tasks() == [], "connection tasks left running after close()"


@pytest.fixture
async def bystander(flood_pool):
    """Another endpoint of the same pool: its pings must stay answered through the flood."""
    async with XiaozhiPeer() as peer:
        await flood_pool.apply([endpoint(99, peer, options=PATIENT)])
        await peer.wait_connection()
        # Answering pings before the flood starts: a loaded box may still be initializing.
        async with asyncio.timeout(20):
            while (await flood_pool.check_health(99))[99] is None:
                await asyncio.sleep(0.1)
        yield peer


async def pings_answered(pool: EndpointPool, stop: asyncio.Event) -> list[float | None]:
    """Ping the bystander every 100 ms until `stop`; each RTT (None: unanswered)."""
    rtts = []
    while not stop.is_set():
        rtts.append((await pool.check_health(99))[99])
        await asyncio.sleep(0.1)
    return rtts


def call(request_id: int, name: str = "slow__wait", **arguments) -> str:
    params = {"name": name, "arguments": arguments}
    return json.dumps(
        {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}
    )


async def test_a_flood_of_calls_is_capped_and_the_excess_answered_at_once(flood_pool, bystander):
    async with XiaozhiPeer("idle") as peer:
        await flood_pool.upsert(endpoint(1, peer, options=PATIENT))
        conn = await peer.wait_connection()
        stop = asyncio.Event()
        pinger = asyncio.create_task(pings_answered(flood_pool, stop))
        async with Meter() as meter:
            for request_id in range(1, FLOOD + 1):
                await conn.send_raw(call(request_id))
            replies = [await conn.next_unmatched(timeout=30) for _ in range(FLOOD)]
        stop.set()
        rtts = await pinger

        assert sorted(reply["id"] for reply in replies) == list(range(1, FLOOD + 1))
        refused = [r for r in replies if "error" in r]
        answered = [r for r in replies if "result" in r]
        assert refused and {r["error"]["code"] for r in refused} == {TOO_MANY_REQUESTS}
        assert "Too many requests in flight: 32" in refused[0]["error"]["message"]
        assert {r["result"]["content"][0]["text"] for r in answered} == {"done"}
        # Nothing over the cap reached the upstream, nor ran as a task.
        upstream = flood_pool.upstream
        assert upstream.most_running == MAX_INFLIGHT and upstream.calls == len(answered)
        assert meter.peak_tasks < 150, f"{meter.peak_tasks} tasks at once"
        assert meter.growth_mb < 40, f"RSS grew by {meter.growth_mb:.0f} MB"
        assert rtts and None not in rtts, rtts

        # Still the same connection, and it serves once the flood has drained.
        assert (await conn.request("tools/call", {"name": "slow__wait"}))["result"]
        assert len(peer.connections) == 1 and flood_pool.status(1).connected


@pytest.mark.parametrize(
    "flood_pool, options",
    [
        # A reply waits 1 s for room in the queue; the pings would take 6 s to fail.
        pytest.param(
            1.0,
            replace(FAST, health_check_interval=30, connection_timeout=5),
            id="found-by-a-reply-that-waits",
        ),
        # Two pings go unanswered (after 1.8-2.8 s) well before a reply waited 30 s.
        pytest.param(
            30.0,
            replace(FAST, health_check_interval=2, connection_timeout=1),
            id="found-by-unanswered-pings",
        ),
    ],
    indirect=["flood_pool"],
)
async def test_a_peer_that_never_reads_its_replies_is_disconnected_with_a_reason(
    flood_pool, bystander, caplog, options
):
    caplog.set_level(logging.WARNING, logger="endpoints.pool")
    async with XiaozhiPeer("half-open") as peer:  # initializes, then reads nothing
        await flood_pool.upsert(endpoint(1, peer, options=options))
        conn = await peer.wait_connection()
        await wait_until(lambda: conn.ws.transport.is_reading() is False)

        async def flood() -> None:
            # Its own sends stall once the hub stops reading it; the hub's drop ends them.
            with contextlib.suppress(ConnectionClosed):
                for request_id in range(1, FLOOD + 1):
                    await conn.send_raw(call(request_id, "hub__echo", text="回" * 20_000))

        stop = asyncio.Event()
        pinger = asyncio.create_task(pings_answered(flood_pool, stop))
        async with Meter() as meter:
            flooding = asyncio.create_task(flood())

            def dropped():
                history = flood_pool.status(1).reconnect_history
                return history and history[0]

            entry = await wait_until(dropped, timeout=20)
            await asyncio.wait_for(flooding, 10)
        stop.set()
        rtts = await pinger

        assert entry["error_class"] == "protocol"
        assert "the peer does not read its replies" in entry["error"], entry
        assert "does not read its replies" in flood_pool.status(1).last_error
        assert any("does not read its replies" in r.getMessage() for r in caplog.records)
        assert meter.peak_tasks < 150, f"{meter.peak_tasks} tasks at once"
        assert meter.growth_mb < 40, f"RSS grew by {meter.growth_mb:.0f} MB"
        assert rtts and None not in rtts, rtts
        assert flood_pool.status(99).state == "connected"

        peer.mode = "mcp"  # a peer that behaves is served again
        served = await peer.wait_connection(after=len(peer.connections), timeout=15)
        assert (await served.call_tool("hub__echo", {"text": "back"})).content[0].text == "back"
