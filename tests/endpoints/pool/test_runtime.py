"""Run-time management, operator actions and balanced hub requests against live peers."""

import asyncio
import random
from dataclasses import replace

import pytest

from endpoints.pool import BuiltinToolRegistry, EndpointPool, NoHealthyEndpoint
from tests.endpoints.peers import answer_pings, peers_running

from .conftest import FAST, endpoint, endpoint_tasks, never_within, wait_state, wait_until


async def test_apply_touches_only_what_changed(pool, status_log):
    async with peers_running(4) as (p1, p2, p3, p4):
        configs = {1: endpoint(1, p1), 2: endpoint(2, p2), 3: endpoint(3, p3)}
        await pool.apply(configs.values())
        for peer in (p1, p2, p3):
            await peer.wait_connection()

        # change #2's URL (a new token), rename #1, remove #3, add #4 -- in one apply
        configs[2] = replace(configs[2], url=p2.url())
        configs[1] = replace(configs[1], name="renamed")
        del configs[3]
        configs[4] = endpoint(4, p4)
        await pool.apply(configs.values())

        await p2.wait_connection(after=1)
        await p4.wait_connection()
        await wait_until(lambda: p3.connections[0].closed.is_set())
        assert p3.connections[0].ws.close_code == 1000
        assert p2.connections[0].ws.close_code == 1000  # the old URL's connection, closed cleanly
        assert len(p1.connections) == 1 and not p1.connections[0].closed.is_set()
        assert pool.status(1).name == "renamed"
        assert pool.endpoint_ids() == {1, 2, 4}
        assert pool.status(3) is None

        # the same set again changes nothing
        def state_changes():
            return [call for call in status_log.calls if call[2]]

        for endpoint_id in (1, 2, 4):
            await wait_state(pool, endpoint_id, "connected")
        before = len(state_changes())
        await pool.apply(configs.values())
        assert [len(p.connections) for p in (p1, p2, p4)] == [1, 2, 1]
        assert len(state_changes()) == before

        # options change restarts that endpoint only
        await pool.upsert(replace(configs[4], options=replace(FAST, connection_timeout=2.0)))
        await p4.wait_connection(after=1)
        assert len(p1.connections) == 1


async def test_disable_and_enable(pool):
    async with peers_running(1) as (peer,):
        config = endpoint(1, peer)
        await pool.apply([config])
        await peer.wait_connection()
        await pool.apply([replace(config, enabled=False)])
        status = pool.status(1)
        assert status.state == "disabled" and not status.connected
        await wait_until(lambda: peer.connections[0].closed.is_set())
        assert peer.connections[0].ws.close_code == 1000
        # Nothing dialled while disabled: a dial would come at once (or within the
        # backoff's cap, jitter off).
        await never_within(2 * FAST.max_reconnect_delay, lambda: len(peer.connections) > 1)
        await pool.reconnect(1)  # a no-op on a disabled endpoint
        assert pool.status(1).state == "disabled"
        await pool.apply([config])
        await wait_state(pool, 1, "connected")


async def test_reconnect_drops_and_redials(pool):
    async with peers_running(1) as (peer,):
        await pool.apply([endpoint(1, peer)])
        await peer.wait_connection()
        await pool.reconnect(1)
        await peer.wait_connection(after=1)
        assert peer.connections[0].ws.close_code == 1000
        assert pool.status(1).reconnect_attempts == 0
        await pool.reconnect(12345)  # unknown id: nothing happens


async def test_close_leaves_nothing_running():
    pool = EndpointPool(registry=BuiltinToolRegistry())
    async with peers_running(3) as peers:
        await pool.apply([endpoint(i, p) for i, p in enumerate(peers, 1)])
        for peer in peers:
            await peer.wait_connection()
        await pool.close()
        assert endpoint_tasks() == []
        assert pool.endpoint_ids() == set()
        for peer in peers:
            await wait_until(lambda p=peer: p.connections[0].closed.is_set())
            assert peer.connections[0].ws.close_code == 1000


async def test_a_failing_status_callback_does_not_hurt():
    calls = []

    async def broken(status, changed):
        calls.append(status.state)
        raise RuntimeError("database down")

    pool = EndpointPool(registry=BuiltinToolRegistry(), on_status=broken)
    try:
        async with peers_running(1) as (peer,):
            await pool.apply([endpoint(1, peer)])
            conn = await peer.wait_connection()
            assert (await conn.call_tool("hub__echo", {"text": "ok"})).content[0].text == "ok"
            assert (await pool.check_health(1))[1] is not None
            assert "connected" in calls
    finally:
        await pool.close()


async def test_status_callback_reports_states_and_counters(pool, status_log):
    async with peers_running(1) as (peer,):
        await pool.apply([endpoint(1, peer)])
        await peer.wait_connection()
        await pool.check_health()
        await peer.stop()
        await wait_state(pool, 1, "backoff")
    assert status_log.states(1)[:3] == ["connecting", "connected", "backoff"]
    counters = [c for c in status_log.calls if c[0] == 1 and not c[2]]
    assert counters, "counter changes are reported with state_changed=False"
    status = pool.status(1).to_dict()
    assert status["totalRequests"] >= 1 and status["successfulRequests"] >= 1
    assert "token=***" in status["url"]


async def test_check_health(pool):
    async with peers_running(2, "scripted") as (p1, p2):
        # Scheduled pings off, so only the manual checks below touch the figures.
        quiet = {"health_check_enabled": False}
        await pool.apply([endpoint(1, p1, **quiet), endpoint(2, p2, **quiet)])
        await p1.wait_connection()
        await p2.wait_connection()
        p2.connections[0].answer_hub = False
        results = await pool.check_health()
        assert results[1] is not None and results[1] > 0
        assert results[2] is None  # timed out (ping timeout = 0.45 * interval)
        assert await pool.check_health(7) == {}
        status = pool.status(2)
        assert status.consecutive_failures == 1 and status.state == "degraded"
        assert results[1] in pool.status(1).rtt_history
        p2.connections[0].answer_hub = True
        assert (await pool.check_health(2))[2] is not None
        assert pool.status(2).state == "connected"  # answered again: healthy


@pytest.fixture
async def three(pool):
    async with peers_running(3, "scripted") as peers:
        # Scheduled pings off: the peers' handlers below see only the requests under test.
        configs = [endpoint(i, p, health_check_enabled=False) for i, p in enumerate(peers, 1)]
        await pool.apply(configs)
        for peer in peers:
            await peer.wait_connection()
        yield peers


async def test_round_robin_and_random(pool, three):
    served = [(await pool.request("ping")).endpoint_id for _ in range(6)]
    assert served == [1, 2, 3, 1, 2, 3]
    pool.set_load_balance_strategy("random")
    pool._balancer._rng = random.Random(5)
    served = {(await pool.request("ping")).endpoint_id for _ in range(30)}
    assert served == {1, 2, 3}
    with pytest.raises(ValueError):
        pool.set_load_balance_strategy("nearest")


async def test_health_based_prefers_the_fast_endpoint(pool):
    async def slow(connection, message):
        await asyncio.sleep(0.4)
        return await answer_pings(connection, message)

    options = replace(FAST, health_check_interval=5.0)  # pings wait up to 1 s: slow, not failed
    async with peers_running(3, "scripted") as peers:
        await pool.apply([endpoint(i, p, options=options) for i, p in enumerate(peers, 1)])
        for peer in peers:
            await peer.wait_connection()
        peers[0].request_handler = slow
        results = await pool.check_health()
        assert all(rtt is not None for rtt in results.values())
        pool.set_load_balance_strategy("health-based")
        assert pool.status(1).health_score < pool.status(2).health_score == 100.0
        served = [(await pool.request("ping")).endpoint_id for _ in range(4)]
        assert sorted(served) == [2, 2, 3, 3]  # equal scores take turns; #1 is not chosen


async def test_failover_when_the_chosen_connection_dies(pool, three):
    async def die(connection, message):
        connection.drop()
        return None

    three[0].request_handler = die
    result = await pool.request("ping")
    assert result.endpoint_id == 2 and result.result == {}
    assert [endpoint_id for endpoint_id, _ in result.attempts] == [1]
    assert "connection lost" in result.attempts[0][1]
    assert len(result.switch_ms) == 1
    await wait_state(pool, 1, "backoff", "connecting")


async def test_failover_on_timeout_and_error_answers(pool, three):
    async def mute(connection, message):
        return None

    three[0].request_handler = mute
    result = await pool.request("ping", timeout=0.2)
    assert result.endpoint_id == 2 and result.attempts == [(1, "timed out")]
    answered = await pool.request("roots/list")  # peer 3 answers -32601: an answer, no failover
    assert answered.endpoint_id == 3 and answered.error["code"] == -32601


async def test_no_healthy_endpoint(pool, three):
    for peer in three:
        peer.request_handler = lambda connection, message: connection.drop() or _none()
    with pytest.raises(NoHealthyEndpoint) as caught:
        await pool.request("ping")
    assert [i for i, _ in caught.value.attempts] == [1, 2, 3]
    await pool.close()
    with pytest.raises(NoHealthyEndpoint, match="no connected endpoint"):
        await pool.request("ping")


async def _none():
    return None


CONTRACT_KEYS = {
    "id", "name", "url", "enabled", "state", "connected", "initialized", "lastConnected",
    "lastError", "errorClass", "reconnectAttempts", "nextReconnectAt", "healthScore", "rttMs",
    "rttP95Ms", "rttHistory", "consecutiveFailures", "totalRequests", "successfulRequests",
    "tokenExpiresAt", "tokenExpired",
}  # fmt: skip


async def test_status_dict_has_the_contract_keys_and_no_secret(pool):
    async with peers_running(1, "scripted") as (peer,):
        token = "eyJhbGciOiJub25lIn0.eyJleHAiOjQxMDI0NDQ4MDB9.SIGNATURE-SECRET"
        config = replace(endpoint(1, peer), url=peer.url(token))
        await pool.apply([config])
        await peer.wait_connection()
        status = (await wait_state(pool, 1, "connected")).to_dict()
    assert CONTRACT_KEYS <= set(status)
    assert "SIGNATURE-SECRET" not in repr(status) and "SIGNATURE-SECRET" not in repr(config)
    assert status["tokenExpiresAt"].startswith("2100-01-01")
    assert status["lastConnected"] and status["state"] == "connected"


async def test_health_checks_off_means_no_mcp_pings(pool):
    async with peers_running(1, "scripted") as (peer,):
        options = replace(FAST, health_check_interval=0.2)
        await pool.apply([endpoint(1, peer, options=options, health_check_enabled=False)])
        conn = await peer.wait_connection()
        # Pings would go out on every tick of the 0.2 s interval: none in two ticks and more.
        await never_within(2.5 * options.health_check_interval, lambda: conn.hub_requests)
        assert pool.status(1).state == "connected"
        assert (await pool.check_health(1))[1] is not None  # a manual check still pings
