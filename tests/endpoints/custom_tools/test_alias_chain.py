"""The `mcp` alias and the `chain` kind end to end, over a real stdio MCP server."""

from __future__ import annotations

import pytest

from endpoints.upstreams.config import ToolSettings
from tests.endpoints.pool.conftest import wait_until

from ..upstreams.conftest import stdio_server
from .conftest import call, custom, offer, request_error, text
from .local_http import Answer


@pytest.fixture
async def local(hub):
    await hub.manager.apply([stdio_server(1, "local")])
    await hub.wait_ready(1)
    return hub


def alias(tool_id, name, tool, *, schema=None, description="", **kwargs):
    handler = {"type": "mcp", "config": {"serviceName": "local", "toolName": tool}}
    return custom(tool_id, name, handler, schema=schema, description=description, **kwargs)


async def test_an_alias_calls_the_servers_tool_under_its_own_name(local, recorder):
    hub = local
    await offer(hub, alias(1, "plus", "add", description="Adds two numbers (alias)"))
    listed = {t.name: t for t in (await hub.connection.list_tools()).tools}
    assert listed["plus"].description == "Adds two numbers (alias)"
    assert "local__add" in listed
    result = await call(hub, "plus", {"a": 2, "b": 40})
    assert not result.is_error and text(result) == "42"
    await wait_until(lambda: recorder.calls)
    assert (recorder.calls[-1].tool, recorder.calls[-1].custom_tool_id) == ("plus", 1)


async def test_an_alias_works_when_the_original_is_hidden(local):
    hub = local
    await hub.manager.set_tool_settings({(1, "echo"): ToolSettings(enabled=False)})
    await hub.wait_offered("local__echo", present=False)
    await offer(hub, alias(1, "say", "echo"))
    assert text(await call(hub, "say", {"text": "你好"})) == "你好"


async def test_an_alias_passes_tool_errors_and_reports_a_missing_server(local):
    hub = local
    await offer(
        hub,
        alias(1, "failing", "fail"),
        custom(2, "ghost", {"type": "mcp", "config": {"serviceName": "nope", "toolName": "x"}}),
    )
    failing = await call(hub, "failing")
    assert failing.is_error and text(failing) == "failed on purpose"
    error = await request_error(hub, "ghost")
    assert error["code"] == -32001 and "'nope' is not running" in error["message"]


def chain(tool_id, name, tools, mode, on_error, **extra):
    handler = {"type": "chain", "tools": tools, "mode": mode, "error_handling": on_error, **extra}
    return custom(tool_id, name, handler)


@pytest.fixture
async def steps(local, web):
    """Tools for chains: `upper` (text → {"text": TEXT}), `wrap` ([text]), `flaky`
    (fails twice, then answers), `fail` (always isError), `echo` (alias of local echo)."""
    hub = local
    web.route("POST", "/upper", lambda s: Answer(200, {"text": s.json()["text"].upper()}))
    web.route("POST", "/wrap", lambda s: Answer(200, f"[{s.json()['text']}]"))
    failures = iter([Answer(500, "first"), Answer(500, "second")])
    web.route("POST", "/flaky", lambda s: next(failures, Answer(200, {"text": "flaky ok"})))
    await offer(
        hub,
        custom(1, "upper", {"type": "http", "url": web.url("/upper")}),
        custom(2, "wrap", {"type": "http", "url": web.url("/wrap")}),
        custom(3, "flaky", {"type": "http", "url": web.url("/flaky")}),
        alias(4, "echo", "echo"),
    )
    return hub


async def offer_more(hub, *tools):
    await offer(hub, *hub.manager.custom_tools(), *tools)


async def test_a_sequential_chain_feeds_each_output_to_the_next(steps, recorder, web):
    hub = steps
    await offer_more(hub, chain(10, "shout", ["echo", "upper", "wrap"], "sequential", "stop"))
    result = await call(hub, "shout", {"text": "hi 你好"})
    assert not result.is_error and text(result) == "[HI 你好]"
    # echo's output "hi 你好" is no JSON object: it reached upper as {"input": ...} over
    # the chain's arguments; upper's JSON object output reached wrap as its keys.
    assert web.hits("/upper")[0].json() == {"text": "hi 你好", "input": "hi 你好"}
    assert web.hits("/wrap")[0].json() == {"text": "HI 你好"}
    await wait_until(lambda: len(recorder.calls) == 4)  # each step is logged, and the chain
    assert [c.tool for c in recorder.calls] == ["echo", "upper", "wrap", "shout"]


async def test_stop_ends_the_chain_at_the_failing_step(steps, web):
    hub = steps
    await offer_more(
        hub, chain(10, "stops", ["upper", "local__fail", "wrap"], "sequential", "stop")
    )
    result = await call(hub, "stops", {"text": "a"})
    assert result.is_error
    assert text(result) == "the chain stopped at step 2 (local__fail): failed on purpose"
    assert not web.hits("/wrap")


async def test_continue_skips_the_failing_step(steps, web):
    hub = steps
    await offer_more(
        hub,
        chain(10, "goes_on", ["upper", "local__fail", "wrap"], "sequential", "continue"),
        chain(11, "all_fail", ["local__fail", "no_such_tool"], "sequential", "continue"),
    )
    result = await call(hub, "goes_on", {"text": "a"})
    assert not result.is_error
    assert text(result) == "step 2 (local__fail) failed: failed on purpose\n[A]"
    assert web.hits("/wrap")[0].json() == {"text": "A"}  # the last good output
    failed = await call(hub, "all_fail", {})
    assert failed.is_error and "every step of the chain failed" in text(failed)
    assert "Unknown tool" in text(failed) or "unknown tool" in text(failed)


async def test_retry_calls_the_failing_step_again(steps, web):
    hub = steps
    await offer_more(
        hub,
        chain(10, "retries", ["flaky", "wrap"], "sequential", "retry", retry_count=2),
        chain(11, "gives_up", ["local__fail"], "sequential", "retry", retry_count=1),
    )
    result = await call(hub, "retries", {"text": "x"})
    assert not result.is_error and text(result) == "[flaky ok]"
    assert len(web.hits("/flaky")) == 3
    gave_up = await call(hub, "gives_up", {})
    assert gave_up.is_error and "stopped at step 1" in text(gave_up)


async def test_a_parallel_chain_runs_every_tool_with_the_chains_arguments(steps, web):
    hub = steps
    await offer_more(
        hub,
        chain(10, "both", ["upper", "echo"], "parallel", "stop"),
        chain(11, "both_stop", ["upper", "local__fail"], "parallel", "stop"),
        chain(12, "both_continue", ["upper", "local__fail"], "parallel", "continue"),
        chain(13, "both_retry", ["flaky", "upper"], "parallel", "retry", retry_count=2),
    )
    result = await call(hub, "both", {"text": "ab"})
    assert not result.is_error
    assert text(result) == '[upper] {"text": "AB"}\n\n[echo] ab'
    stopped = await call(hub, "both_stop", {"text": "ab"})
    assert stopped.is_error and "[local__fail] failed: failed on purpose" in text(stopped)
    went_on = await call(hub, "both_continue", {"text": "ab"})
    assert not went_on.is_error and "[local__fail] failed" in text(went_on)
    retried = await call(hub, "both_retry", {"text": "ab"})
    assert not retried.is_error and '[flaky] {"text": "flaky ok"}' in text(retried)


async def test_a_chain_that_calls_itself_stops(steps):
    hub = steps
    await offer_more(hub, chain(10, "loop", ["loop"], "sequential", "stop"))
    result = await call(hub, "loop", {})
    assert result.is_error and "nest deeper than" in text(result)
