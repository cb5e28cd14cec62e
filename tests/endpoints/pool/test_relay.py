"""The relay peer profile against a loopback mcp-endpoint-server (tests/endpoints/relay_peer.py):
the hub stays connected and healthy with no device talking, serves robots whenever
they come, and still finds a relay that stops answering."""

import asyncio
from dataclasses import replace

import pytest
from websockets.asyncio.client import connect

from endpoints.pool import (
    BROKER,
    RELAY,
    EndpointConfig,
    NoHealthyEndpoint,
    PeerProfile,
    profile_for,
    resolve_peer_profile,
)
from endpoints.pool.pool import RELAY_SKIPPED
from tests.endpoints.peers import XiaozhiPeer
from tests.endpoints.relay_peer import ROBOT_PATH, RelayPeer, RobotError

from .conftest import FAST, endpoint, never_within, wait_state, wait_until

# A health interval of 0.2 s: 50 WebSocket pings in the 10 s of the idle test.
RELAY_OPTIONS = replace(FAST, health_check_interval=0.2)
IDLE_SECONDS = 10.0


def relay_endpoint(endpoint_id: int, relay: RelayPeer, agent: str = "agent", **overrides):
    url = relay.tool_url(agent)
    overrides.setdefault("options", RELAY_OPTIONS)
    return EndpointConfig(
        id=endpoint_id,
        name=f"relay{endpoint_id}",
        url=url,
        profile=profile_for("auto", url),
        **overrides,
    )


@pytest.fixture
async def relay():
    async with RelayPeer() as relay:
        yield relay


async def connected(pool, endpoint_id: int):
    """The status once up (a relay stays uninitialized until a robot comes)."""
    return await wait_until(
        lambda: (s := pool.status(endpoint_id)) is not None and s.state == "connected" and s
    )


# -- the profile ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("profile", "url", "expected"),
    [
        ("auto", "ws://h:8004/mcp_endpoint/mcp/?token=x", "relay"),
        ("auto", "wss://h/prefix/mcp_endpoint/mcp/?token=x", "relay"),  # behind a proxy
        ("auto", "ws://h:8004/mcp_endpoint/mcp?token=x", "relay"),  # no trailing slash
        ("auto", "WS://H:8004/MCP_ENDPOINT/MCP/?token=x", "relay"),
        ("auto", "wss://api.xiaozhi.me/mcp/?token=x", "broker"),
        ("auto", f"ws://h{ROBOT_PATH}?token=x", "broker"),  # the robot side
        ("auto", "wss://api.xiaozhi.me/mcp/?next=/mcp_endpoint/mcp/", "broker"),  # query only
        ("broker", "ws://h:8004/mcp_endpoint/mcp/?token=x", "broker"),  # an override wins
        ("relay", "wss://api.xiaozhi.me/mcp/?token=x", "relay"),
    ],
)
def test_resolve_peer_profile(profile, url, expected):
    assert resolve_peer_profile(profile, url) == expected


@pytest.mark.parametrize("bad", ["", "Relay", "xiaozhi", None])
def test_unknown_profile_is_refused(bad):
    with pytest.raises(ValueError, match="peer profile"):
        resolve_peer_profile(bad, "ws://h/")
    with pytest.raises(ValueError):
        PeerProfile(name=bad)


def test_peer_profile_keeps_the_brokers_settings():
    broker = PeerProfile(initialize_timeout=3, mcp_ping=False)
    assert profile_for("auto", "wss://api.xiaozhi.me/mcp/", broker=broker) is broker
    assert profile_for("auto", "ws://h/mcp_endpoint/mcp/", broker=broker) is RELAY
    assert RELAY.initialize_timeout == 0 and not RELAY.mcp_ping
    assert not RELAY.routes_hub_messages and BROKER.routes_hub_messages
    with pytest.raises(ValueError):
        PeerProfile(initialize_timeout=-1)


# -- no device talking ----------------------------------------------------------


async def test_stays_connected_and_healthy_with_no_robot(pool, relay):
    await pool.apply([relay_endpoint(1, relay)])
    await relay.wait_tool("agent")
    status = await connected(pool, 1)
    assert status.waiting_for_device and status.to_dict()["waitingForDevice"] is True
    assert status.to_dict()["peerProfile"] == "relay"

    def trouble():
        s = pool.status(1)
        return s.state != "connected" or not s.connected or len(relay.tool_connections) != 1

    # No initialize ever comes: no deadline, no reconnect, no state change.
    await never_within(IDLE_SECONDS, trouble, interval=0.05)
    status = pool.status(1)
    assert status.reconnect_history == [] and status.last_error == ""
    # Liveness came from WebSocket pings: answered, with an RTT, a healthy score.
    assert status.successful_requests >= 10
    # every ping answered: none failed, at most the one in flight is not counted yet
    assert status.consecutive_failures == 0
    assert status.total_requests - status.successful_requests <= 1
    assert status.rtt_ms is not None and status.health_score >= 90
    # Nothing hub-originated went to the relay (an MCP ping would have been dropped).
    assert relay.dropped == []
    assert status.waiting_for_device and not status.initialized


# -- robots come and go -----------------------------------------------------------


async def _robot_session(relay: RelayPeer, calls: int, tag: str) -> list[str]:
    async with relay.robot("agent") as robot:
        info = await robot.initialize()
        assert info["protocolVersion"] == "2024-11-05"
        names = {tool["name"] for tool in await robot.list_tools()}
        assert {"hub__echo", "hub__status"} <= names
        results = await asyncio.gather(
            *(robot.call_tool("hub__echo", {"text": f"{tag}-{n}"}) for n in range(calls))
        )
        return [result["content"][0]["text"] for result in results]


async def test_robots_arriving_at_any_moment_get_the_tools(pool, relay):
    await pool.apply([relay_endpoint(1, relay)])
    await relay.wait_tool("agent")
    await connected(pool, 1)

    # two at once, each with concurrent calls, sharing the one tool connection
    first = await asyncio.gather(*(_robot_session(relay, 5, f"r{i}") for i in range(2)))
    assert first == [[f"r{i}-{n}" for n in range(5)] for i in range(2)]
    status = pool.status(1)
    assert status.initialized and not status.waiting_for_device
    # later a third, after the others left
    await asyncio.sleep(RELAY_OPTIONS.health_check_interval * 3)
    assert await _robot_session(relay, 5, "late") == [f"late-{n}" for n in range(5)]

    assert len(relay.tool_connections) == 1
    assert await wait_until(lambda: pool.status(1).tool_calls == 15)
    initializes = [m for m in relay.forwarded_to_tool if m.get("method") == "initialize"]
    assert len(initializes) == 3  # each robot's own, all answered on one connection
    for message in relay.forwarded_to_tool:
        if "id" in message:
            robot_uuid, kind, original = message["id"].split("_", 2)
            assert len(robot_uuid) == 36 and kind == "n" and original.isdigit()
    assert relay.dropped == []
    assert pool.status(1).state == "connected"


async def test_string_ids_of_any_shape_are_answered(pool, relay):
    await pool.apply([relay_endpoint(1, relay)])
    await relay.wait_tool("agent")
    async with relay.robot("agent") as robot:
        await robot.initialize()
        for request_id in ("a_b_c", "42", "ünï-код", "x" * 200):
            result = await robot.request(
                "tools/call",
                {"name": "hub__echo", "arguments": {"text": request_id}},
                request_id=request_id,
            )
            assert result["content"][0]["text"] == request_id
    assert any(str(m.get("id", "")).endswith("_s_a_b_c") for m in relay.forwarded_to_tool)


async def test_a_robot_before_the_hub_connects_gets_the_relays_error(relay):
    async with relay.robot("agent") as robot:
        with pytest.raises(RobotError, match="tool side not connected"):
            await robot.initialize()


# -- hub-originated messages ------------------------------------------------------


async def test_tools_changes_are_not_notified_to_a_relay(pool, relay):
    await pool.apply([relay_endpoint(1, relay)])
    await relay.wait_tool("agent")
    async with relay.robot("agent") as robot:
        await robot.initialize()
        await pool.notify_tools_changed()
        await robot.list_tools()  # a round trip: a notification would have arrived by now
    assert relay.dropped == []
    assert len(relay.tool_connections) == 1


async def test_reconnect_on_tools_change_stays_available(pool, relay):
    await pool.apply([relay_endpoint(1, relay, reconnect_on_tools_change=True)])
    await relay.wait_tool("agent")
    async with relay.robot("agent") as robot:
        await robot.initialize()
    await wait_until(lambda: pool.status(1).initialized)
    await pool.notify_tools_changed()
    await relay.wait_tool("agent", after=1)
    assert relay.tool_connections[0].ws.close_code == 1000
    async with relay.robot("agent") as robot:
        await robot.initialize()  # the next initialize sees the new tools
        assert await robot.list_tools()


async def test_pool_request_skips_relays_and_says_so(pool, relay):
    async with XiaozhiPeer() as broker:
        await pool.apply([relay_endpoint(1, relay), endpoint(2, broker)])
        await connected(pool, 1)
        await wait_state(pool, 2, "connected")
        for _ in range(3):  # whatever the round-robin turn
            result = await pool.request("ping")
            assert result.endpoint_id == 2
            assert result.attempts == [(1, RELAY_SKIPPED)]
    with pytest.raises(NoHealthyEndpoint, match="relay") as caught:
        await pool.request("ping")
    assert caught.value.attempts == [(1, RELAY_SKIPPED)]
    assert relay.dropped == []


async def test_manual_check_of_a_relay_uses_a_websocket_ping(pool, relay):
    await pool.apply([relay_endpoint(1, relay)])
    await connected(pool, 1)
    outcome = (await pool.check(1))[1]
    assert outcome.failure is None and outcome.rtt_ms is not None
    assert relay.dropped == []


# -- a relay that stops answering -------------------------------------------------


async def test_a_relay_that_stops_answering_pings_is_dropped(pool, relay):
    await pool.apply([relay_endpoint(1, relay)])
    await relay.wait_tool("agent")
    await connected(pool, 1)
    relay.freeze()

    status = await wait_until(lambda: (s := pool.status(1)).reconnect_history and s)
    entry = status.reconnect_history[0]
    assert entry["error_class"] == "timeout", entry
    assert "2 WebSocket pings in a row got no answer" in entry["error"]
    # Two unanswered pings, the first confirmed at once by the second: dropped after
    # them, not after a longer streak (so within two health intervals).
    assert status.consecutive_failures == 2

    relay.thaw()
    await relay.wait_tool("agent", after=1)
    await connected(pool, 1)
    async with relay.robot("agent") as robot:
        await robot.initialize()
        assert (await robot.call_tool("hub__echo", {"text": "back"}))["content"][0]["text"]


async def test_a_replaced_tool_connection_is_dialled_again(pool, relay):
    await pool.apply([relay_endpoint(1, relay)])
    first = await relay.wait_tool("agent")
    await connected(pool, 1)
    # Another tool side for the same agent replaces the hub's (close 1000) ...
    async with connect(relay.tool_url("agent"), ping_interval=None):
        await wait_until(lambda: first.closed.is_set())
        assert first.ws.close_code == 1000
    # ... and the hub dials again once that one is gone.
    await relay.wait_tool("agent", after=2)
    await connected(pool, 1)
    assert pool.status(1).reconnect_history[0]["error_class"] is None


# -- brokers are unchanged ----------------------------------------------------------


async def test_a_broker_that_never_initializes_still_times_out(pool):
    async with XiaozhiPeer("silent") as peer:
        await pool.apply([endpoint(1, peer, profile=PeerProfile(initialize_timeout=0.3))])
        status = await wait_until(lambda: (s := pool.status(1)).reconnect_history and s)
    entry = status.reconnect_history[0]
    assert entry["error_class"] == "protocol"
    assert "did not initialize within 0.3 s" in entry["error"]
    assert peer.connections[0].ws.close_code == 1008


async def test_a_broker_watched_by_websocket_pings(pool):
    async with XiaozhiPeer("idle") as peer:
        await pool.apply([endpoint(1, peer, profile=PeerProfile(mcp_ping=False))])
        conn = await peer.wait_connection()
        await wait_until(lambda: pool.status(1).successful_requests >= 3)
        assert not [m for m in conn.hub_requests if m.get("method") == "ping"]
        assert pool.status(1).state == "connected"
