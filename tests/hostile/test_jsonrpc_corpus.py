"""Hostile JSON-RPC frames (jsonrpc_frames.json) from an endpoint peer, over a real pool
connection: each gets its documented answer and the same connection stays usable.

A frame of 200 KB of nested `[` used to raise RecursionError in the pool, which
closed the connection with 1011 ("unexpected error"); an id or method holding a
lone surrogate was echoed into a reply that could not be sent as UTF-8.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from endpoints.pool import BuiltinToolRegistry, EndpointConfig, EndpointPool
from endpoints.pool.protocol import encode, parse_frame
from tests.endpoints.peers import XiaozhiPeer
from tests.endpoints.pool.conftest import FAST
from tests.hostile.corpus import load, render

CASES = load("jsonrpc_frames.json")["cases"]
DOCUMENTED_CODES = {-32700, -32600, -32601, -32602, -32000, -32001, -32002, -32003, -32603}


@pytest.fixture
async def served():
    """A pool with one endpoint, dialled into a peer that sends what the test tells it."""
    pool = EndpointPool(registry=BuiltinToolRegistry())
    async with XiaozhiPeer("idle") as peer:
        options = replace(FAST, health_check_interval=5, connection_timeout=3)
        await pool.apply([EndpointConfig(id=1, name="hostile", url=peer.url(), options=options)])
        connection = await peer.wait_connection()
        yield pool, peer, connection
        await pool.close()


def outgoing(case: dict) -> str | bytes:
    if "hex" in case:
        return bytes.fromhex(case["hex"])
    if "text" in case:
        return case["text"]
    return render(case["frame"])


@pytest.mark.parametrize("case", CASES, ids=[case["id"] for case in CASES])
async def test_each_bad_frame_gets_its_documented_answer_and_the_connection_stays(served, case):
    pool, peer, connection = served
    frame = outgoing(case)
    await connection.send_raw(frame)
    if case["answer"] != "none":
        reply = await connection.next_unmatched(timeout=10)
        reply_id = json.loads(frame)["id"] if case["reply_id"] == "$sent" else case["reply_id"]
        assert reply["jsonrpc"] == "2.0" and reply["id"] == reply_id
        if case["answer"] == "error":
            assert "result" not in reply
            assert reply["error"]["code"] == case["code"], reply
            assert case["says"] in reply["error"]["message"], reply
        else:
            assert "error" not in reply and isinstance(reply["result"], dict), reply
    # The same connection answers the next request, and nothing else came (a frame
    # that is never answered stays unanswered).
    assert (await connection.request("ping", {}))["result"] == {}
    assert connection._unmatched.empty()
    assert len(peer.connections) == 1 and not connection.closed.is_set()
    assert pool.status(1).connected and pool.status(1).reconnect_history == []


# Text and bytes as a peer might send them: JSON-ish fragments, lone surrogates,
# invalid UTF-8, nesting.
fragments = st.sampled_from(['{"id":', '"method":', "[", "]", "{", "}", ",", "1e999", "NaN", '"'])
hostile_frames = st.one_of(
    st.binary(max_size=200),
    st.text(st.one_of(st.characters(), st.characters(categories=["Cs"])), max_size=50),
    st.lists(fragments, max_size=60).map("".join),
    st.integers(1, 3000).map(lambda depth: "[" * depth),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
        max_leaves=20,
    ).map(lambda value: json.dumps({"id": 1, "method": "tools/call", "params": value})),
)


@settings(
    database=None, deadline=None, max_examples=400, suppress_health_check=[HealthCheck.too_slow]
)
@given(hostile_frames)
def test_parse_frame_sorts_anything_and_its_error_answers_can_be_sent(raw):
    incoming = parse_frame(raw)
    assert incoming.kind in {"request", "notification", "response", "invalid"}
    if incoming.kind == "invalid":
        assert incoming.reply["error"]["code"] in DOCUMENTED_CODES
        encode(incoming.reply).encode("utf-8")  # goes out as valid UTF-8 text
