"""The lean tools/call path (endpoints/upstreams/lines.py, passthrough.py) against a
hand-written line server that misbehaves on request: garbage lines, huge lines,
wrong ids, death mid-call, silence, error answers, and odd but valid results."""

import sys

from endpoints.upstreams import lines
from endpoints.upstreams.config import ReplicaConfig, ServerConfig
from endpoints.upstreams.passthrough import PassthroughResult
from tests.endpoints.pool.conftest import wait_until

from .conftest import request_error

# One JSON-RPC line per message; what each tool does is its name. REPLICA (env)
# tells replicas apart; `cancelled` lists the requestIds of notifications/cancelled.
LINE_SERVER = r"""
import json, os, sys

REPLICA = os.environ.get("REPLICA", "0")
cancelled = []
extra = False

def send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()

def text(message_id, value, **more):
    send({"jsonrpc": "2.0", "id": message_id,
          "result": {"content": [{"type": "text", "text": value}], **more}})

TOOLS = ["echo", "garbage_first", "huge", "wrong_id", "die", "silent", "fail", "error",
         "gone", "odd_shape", "image", "extras", "cancelled", "change", "whoami"]

for line in sys.stdin:
    message = json.loads(line)
    method, message_id = message.get("method"), message.get("id")
    params = message.get("params") or {}
    if method == "notifications/cancelled":
        cancelled.append(params["requestId"])
        continue
    if message_id is None:
        continue
    if method == "initialize":
        send({"jsonrpc": "2.0", "id": message_id, "result": {
            "protocolVersion": params["protocolVersion"],
            "capabilities": {"tools": {"listChanged": True}},
            "serverInfo": {"name": "lines", "version": "0"}}})
    elif method == "tools/list":
        names = TOOLS + (["extra"] if extra else [])
        tools = [{"name": n, "inputSchema": {"type": "object"}} for n in names]
        tools.append({"name": "typed", "inputSchema": {"type": "object"}, "outputSchema": {
            "type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}})
        send({"jsonrpc": "2.0", "id": message_id, "result": {"tools": tools}})
    elif method == "tools/call":
        name, arguments = params["name"], params.get("arguments") or {}
        if name == "echo":
            text(message_id, arguments.get("text", ""))
        elif name == "whoami":
            text(message_id, REPLICA)
        elif name == "garbage_first":
            sys.stdout.write("this is not json\n{\"half\": \n")
            text(message_id, "after garbage")
        elif name == "huge":
            text(message_id, "x" * arguments["size"])
        elif name == "wrong_id":
            text(message_id + 1 if isinstance(message_id, int) else "nope", "lost")
        elif name == "die":
            if REPLICA == "0":
                os._exit(3)
            text(message_id, "survivor " + REPLICA)
        elif name == "silent":
            pass
        elif name == "fail":
            text(message_id, "failed on purpose", isError=True)
        elif name == "error":
            send({"jsonrpc": "2.0", "id": message_id,
                  "error": {"code": -32000, "message": "upstream refused"}})
        elif name == "gone":
            send({"jsonrpc": "2.0", "id": message_id,
                  "error": {"code": -32601, "message": "no such tool"}})
        elif name == "odd_shape":
            send({"jsonrpc": "2.0", "id": message_id,
                  "result": {"content": "should be a list", "isError": "perhaps"}})
        elif name == "image":
            send({"jsonrpc": "2.0", "id": message_id, "result": {"content": [
                {"type": "image", "data": "aGk=", "mimeType": "image/png"},
                {"type": "text", "text": "caption"}]}})
        elif name == "extras":
            text(message_id, "with extras", structuredContent={"n": 1},
                 _meta={"trace": "t1"}, isError=None)
        elif name == "typed":
            text(message_id, "typed", structuredContent={"n": arguments["n"]})
        elif name == "cancelled":
            text(message_id, json.dumps(cancelled))
        elif name == "change":
            extra = True
            text(message_id, "changed")
            send({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
"""


def line_server(server_id: int, name: str, *, replicas: int = 1, **kwargs) -> ServerConfig:
    return ServerConfig(
        id=server_id,
        name=name,
        transport="stdio",
        replicas=tuple(
            ReplicaConfig(
                command=sys.executable, args=("-c", LINE_SERVER), env=(("REPLICA", str(i)),)
            )
            for i in range(replicas)
        ),
        **kwargs,
    )


async def raw_call(hub, name: str, arguments: dict, request_id: int = 1) -> dict:
    """The JSON-RPC answer the pool gives a peer, as a dict (what goes on the wire)."""
    request = {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }
    return await hub.pool.serve(request)


async def outcome_of(recorder, tool: str) -> str:
    record = await wait_until(lambda: next((c for c in recorder.calls if c.tool == tool), None))
    return record.outcome


async def test_text_results_pass_through_without_a_model_round_trip(hub, recorder):
    await hub.manager.apply([line_server(1, "ln")])
    await hub.wait_ready(1)
    text = "héllo 😀 \ud800"  # a lone surrogate too: it goes out \u-escaped
    result = await hub.manager.call_tool("ln__echo", {"text": text})
    assert isinstance(result, PassthroughResult)
    assert result.content[0].text == text and not result.is_error
    # Extra fields come through as the upstream sent them; top-level nulls are dropped.
    answer = await raw_call(hub, "ln__extras", {})
    assert answer["result"] == {
        "content": [{"type": "text", "text": "with extras"}],
        "structuredContent": {"n": 1},
        "_meta": {"trace": "t1"},
    }
    # Non-text content goes through the SDK's model, and still answers.
    answer = await raw_call(hub, "ln__image", {})
    assert answer["result"]["content"][0] == {
        "type": "image",
        "data": "aGk=",
        "mimeType": "image/png",
    }
    assert await outcome_of(recorder, "ln__echo") == "ok"


async def test_is_error_and_error_answers(hub, recorder):
    await hub.manager.apply([line_server(1, "ln")])
    await hub.wait_ready(1)
    result = await hub.connection.call_tool("ln__fail", {})
    assert result.is_error and result.content[0].text == "failed on purpose"
    error = await request_error(hub, "ln__error")
    assert error["code"] == -32000 and "upstream refused" in error["message"], error
    error = await request_error(hub, "ln__gone")
    assert error["code"] == -32601, error
    assert await outcome_of(recorder, "ln__fail") == "tool_error"
    assert await outcome_of(recorder, "ln__error") == "error"
    assert await outcome_of(recorder, "ln__gone") == "not_found"


async def test_malformed_lines_and_results(hub, recorder):
    await hub.manager.apply([line_server(1, "ln")])
    await hub.wait_ready(1)
    # Garbage lines before the answer are reported and skipped; the answer still lands.
    result = await hub.connection.call_tool("ln__garbage_first", {})
    assert result.content[0].text == "after garbage"
    error = await request_error(hub, "ln__odd_shape")
    assert error["code"] == -32000 and "malformed" in error["message"], error
    assert await outcome_of(recorder, "ln__odd_shape") == "error"
    # The replica kept serving through all of it.
    assert (await hub.connection.call_tool("ln__echo", {"text": "ok"})).content[0].text == "ok"
    assert hub.manager.server(1).replicas[0].restarts == 0


async def test_structured_content_is_checked_against_the_output_schema(hub, recorder):
    await hub.manager.apply([line_server(1, "ln")])
    await hub.wait_ready(1)
    result = await hub.manager.call_tool("ln__typed", {"n": 7})
    assert isinstance(result, PassthroughResult) and result.structured_content == {"n": 7}
    error = await request_error(hub, "ln__typed", {"n": "seven"})
    assert error["code"] == -32000 and "invalid structured content" in error["message"], error


async def test_a_line_over_the_limit_fails_its_call_at_once(hub, recorder, monkeypatch):
    monkeypatch.setattr(lines, "MAX_LINE", 256 << 10)
    await hub.manager.apply([line_server(1, "ln", call_timeout=60)])
    await hub.wait_ready(1)
    error = await request_error(hub, "ln__huge", {"size": 1 << 20})  # 4 x the limit
    assert error["code"] == -32000 and "larger than" in error["message"], error
    assert await outcome_of(recorder, "ln__huge") == "error"  # not a 60 s timeout
    # Just under the limit is fine, and the link is in step again.
    result = await hub.manager.call_tool("ln__huge", {"size": 200 << 10})
    assert len(result.content[0].text) == 200 << 10
    assert (await hub.connection.call_tool("ln__echo", {"text": "ok"})).content[0].text == "ok"


async def test_an_answer_with_the_wrong_id_is_not_taken(hub, recorder):
    await hub.manager.apply([line_server(1, "ln", call_timeout=0.5)])
    await hub.wait_ready(1)
    error = await request_error(hub, "ln__wrong_id")
    assert error["code"] == -32002, error
    assert await outcome_of(recorder, "ln__wrong_id") == "timeout"
    assert (await hub.connection.call_tool("ln__echo", {"text": "ok"})).content[0].text == "ok"


async def test_a_timeout_tells_the_upstream_and_forgets_the_id(hub, recorder):
    await hub.manager.apply([line_server(1, "ln", call_timeout=0.3)])
    await hub.wait_ready(1)
    error = await request_error(hub, "ln__silent")
    assert error["code"] == -32002, error
    assert await outcome_of(recorder, "ln__silent") == "timeout"
    cancelled = (await hub.manager.call_tool("ln__cancelled", {})).content[0].text
    assert cancelled.startswith("[") and len(cancelled) > 2  # one requestId was cancelled
    link = hub.manager.server(1).replicas[0]._link
    assert link.lines._pending == {}


async def test_process_death_mid_call_fails_over_or_is_unavailable(hub, recorder):
    await hub.manager.apply([line_server(1, "two", replicas=2), line_server(2, "one")])
    await hub.wait_ready(1)
    await wait_until(lambda: all(r.ready for r in hub.manager.server(1).replicas), timeout=15)
    await hub.wait_ready(2)
    # Replica 0 dies under the call: it fails over to replica 1 within the same call.
    for _ in range(2):  # round-robin: one of two calls starts on replica 0
        result = await hub.connection.call_tool("two__die", {})
        assert result.content[0].text == "survivor 1"
    assert any(c.failovers == 1 for c in recorder.calls if c.tool == "two__die")
    # With one replica there is nowhere to go: -32001, and the replica restarts.
    error = await request_error(hub, "one__die")
    assert error["code"] == -32001, error
    assert await outcome_of(recorder, "one__die") == "unavailable"
    await hub.wait_ready(2)
    assert (await hub.connection.call_tool("one__echo", {"text": "back"})).content[0].text == "back"


async def test_list_changed_still_reaches_the_session(hub):
    await hub.manager.apply([line_server(1, "ln")])
    await hub.wait_ready(1)
    await hub.connection.call_tool("ln__change", {})
    await hub.wait_offered("ln__extra")
