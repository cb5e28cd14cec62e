"""Peer faults: the pool stays up, reports the right state and recovers when the peer is back."""

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from tests.endpoints.peers import XiaozhiPeer, make_token

from .conftest import FAST, endpoint, never_within, wait_state, wait_until


@pytest.fixture
async def bystander(pool):
    """A healthy endpoint on its own peer: faults elsewhere must not touch it."""
    async with XiaozhiPeer() as peer:
        await pool.apply([endpoint(99, peer)])
        await peer.wait_connection()
        yield peer


async def _fault_then_recover(pool, bystander, mode, error_class, *, options=FAST):
    async with XiaozhiPeer(mode) as peer:
        await pool.upsert(endpoint(1, peer, options=options))

        def failed_once():
            status = pool.status(1)
            return status.reconnect_history and status

        status = await wait_until(failed_once)
        entry = status.reconnect_history[0]
        assert entry["error_class"] == error_class, entry
        if error_class is not None:
            assert status.error_class == error_class and status.last_error

        peer.mode = "mcp"
        await wait_state(pool, 1, "connected")
        conn = await peer.wait_connection()
        assert (await conn.call_tool("hub__echo", {"text": "back"})).content[0].text == "back"
    assert len(bystander.connections) == 1 and not bystander.connections[0].closed.is_set()
    assert pool.status(99).state == "connected"
    return peer, entry


async def test_close_4004_backs_off_as_server_error(pool, bystander):
    peer, entry = await _fault_then_recover(pool, bystander, "close-4004", "server")
    assert "4004" in entry["error"]
    assert entry["delay"] == pytest.approx(FAST.reconnect_interval)


async def test_close_1000_reconnects(pool, bystander):
    peer, entry = await _fault_then_recover(pool, bystander, "close-1000", None)
    assert "1000" in entry["error"]


async def test_drop_without_close_frame_is_a_network_error(pool, bystander):
    peer, entry = await _fault_then_recover(pool, bystander, "drop", "network")
    assert "1006" in entry["error"]


async def test_peer_that_never_initializes(pool, bystander):
    peer, entry = await _fault_then_recover(pool, bystander, "silent", "protocol")
    assert "did not initialize" in entry["error"]
    assert peer.connections[0].ws.close_code == 1008


async def test_peer_that_stops_answering_pings(pool, bystander):
    options = replace(FAST, health_check_interval=0.3)
    peer, entry = await _fault_then_recover(pool, bystander, "no-pong", "timeout", options=options)
    assert "health pings" in entry["error"]


async def test_oversized_frame_is_refused_with_1009(pool, bystander):
    peer, entry = await _fault_then_recover(pool, bystander, "oversized", "protocol")
    first = peer.connections[0]
    assert first.ws.close_code == 1009
    assert "exceeds limit" in first.ws.close_reason
    assert "1009" in entry["error"]


async def test_garbage_keeps_the_connection(pool, bystander):
    async with XiaozhiPeer("scripted") as peer:
        await pool.upsert(endpoint(1, peer))
        conn = await peer.wait_connection()
        for junk in ("}{", "\x00\x01", "null", '{"id": {}, "method": "ping"}', "[]"):
            await conn.send_raw(junk)
            reply = await conn.next_unmatched()
            assert reply["error"]["code"] in (-32700, -32600)
        assert (await conn.request("ping", {}))["result"] == {}
        assert len(peer.connections) == 1 and pool.status(1).connected


async def test_peer_down_then_back_on_the_same_port(pool, bystander):
    peer = await XiaozhiPeer().start()
    port = peer.port
    await pool.upsert(endpoint(1, peer))
    await peer.wait_connection()
    await peer.stop()
    status = await wait_state(pool, 1, "backoff", "connecting")
    await wait_until(lambda: pool.status(1).reconnect_attempts >= 2)
    assert pool.status(1).error_class == "network"
    async with XiaozhiPeer(port=port) as back:
        await wait_state(pool, 1, "connected")
        await back.wait_connection()
    assert status.connected is False


async def test_http_401_stops_at_once_and_resumes_on_reconnect(pool, bystander):
    async with XiaozhiPeer("reject-401") as peer:
        await pool.upsert(endpoint(1, peer))
        status = await wait_state(pool, 1, "failed")
        assert status.error_class == "auth" and "401" in status.last_error
        assert status.reconnect_attempts == 0 and status.next_reconnect_at is None
        assert [(e["error_class"], e["delay"]) for e in status.reconnect_history] == [
            ("auth", None)
        ]
        # No retry loop: a retry would come within the backoff's cap (jitter is off).
        await never_within(2 * FAST.max_reconnect_delay, lambda: peer.handshakes > 1)

        peer.mode = "mcp"
        await pool.reconnect(1)
        await wait_state(pool, 1, "connected")
        assert peer.handshakes == 2


async def test_expired_token_is_never_dialled(pool, status_log):
    async with XiaozhiPeer() as peer:
        expired = make_token(exp=(datetime.now(UTC) - timedelta(days=1)).timestamp())
        config = replace(endpoint(1, peer), url=peer.url(expired))
        await pool.upsert(config)
        status = await wait_state(pool, 1, "failed")
        assert status.token_expired and status.error_class == "auth"
        assert "expired" in status.last_error
        assert status.to_dict()["tokenExpired"] is True
        # Never dialled: a dial would come at once, or a retry within the backoff's cap.
        await never_within(2 * FAST.max_reconnect_delay, lambda: peer.handshakes > 0)

        await pool.upsert(replace(config, url=peer.url(make_token())))  # a new URL resumes it
        status = await wait_state(pool, 1, "connected")
        assert not status.token_expired
    assert "failed" in status_log.states(1)


async def test_max_attempts_then_failed(pool):
    async with XiaozhiPeer("reject-500") as peer:
        options = replace(FAST, max_reconnect_attempts=3)
        await pool.upsert(endpoint(1, peer, options=options))
        status = await wait_state(pool, 1, "failed")
        assert "gave up after 3 attempts" in status.last_error
        assert status.error_class == "server"
        assert peer.handshakes == 3
        history = [(e["error_class"], e["delay"]) for e in status.reconnect_history]
        assert history == [("server", 0.05), ("server", 0.1), ("server", None)]  # exponential

        peer.mode = "mcp"
        await pool.reconnect(1)
        await wait_state(pool, 1, "connected")


async def test_dead_peer_found_within_two_intervals(pool):
    interval = 0.5
    # A 5 s connection timeout makes the close timeout 5 s too: dropping the half-open
    # peer by a close handshake (which it never answers) would take that long.
    options = replace(
        FAST, health_check_interval=interval, reconnect_interval=1.0, connection_timeout=5.0
    )
    async with XiaozhiPeer("half-open") as peer:
        await pool.upsert(endpoint(1, peer, options=options))
        await peer.wait_connection()
        gone_at = time.monotonic()  # the peer stopped reading right after initializing
        status = await wait_state(pool, 1, "backoff", timeout=5)
        elapsed = time.monotonic() - gone_at
    assert status.error_class == "timeout"
    assert status.consecutive_failures == 2  # dropped after the second missed ping, not later
    # Design: the next ping tick, then two ping timeouts, then the TCP connection is cut:
    # interval + 2 * 0.45 * interval = 0.95 s of loop time, within the documented two
    # intervals. Allowed: those two intervals plus 2 s for timers that fire late on the
    # shared 2-core box; a drop by close handshake (5 s) still fails it.
    assert elapsed < 2 * interval + 2.0, elapsed
