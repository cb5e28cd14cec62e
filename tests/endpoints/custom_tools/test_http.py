"""The `http` kind end to end: a peer calls the tool, the hub calls a local HTTP server."""

from __future__ import annotations

import base64
import json

from tests.endpoints.pool.conftest import wait_until

from .conftest import call, custom, offer, request_error, text
from .local_http import Answer

CITY = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
    "required": ["city"],
}


async def test_listed_beside_the_servers_tools_and_called_with_a_template(hub, recorder, web):
    web.route("POST", "/weather", Answer(200, {"ok": True, "data": {"text": "晴，25°C"}}))
    tool = custom(
        7,
        "weather",
        {
            "type": "http",
            "url": web.url("/weather"),
            "method": "POST",
            "headers": {"X-Source": "xiaozhi"},
            "body_template": '{"q": "{{city}}", "days": {{days}}, "note": "城市：{{city}}!"}',
            "response_mapping": {"success_path": "ok", "data_path": "$.data.text"},
        },
        schema=CITY,
    )
    await offer(hub, tool)
    listed = {t.name: t for t in (await hub.connection.list_tools()).tools}
    assert "hub__echo" in listed and listed["weather"].description == "the weather tool"
    assert listed["weather"].input_schema["required"] == ["city"]

    city = '北京 "朝阳" \\ 区'
    result = await call(hub, "weather", {"city": city, "days": 3})
    assert not result.is_error and text(result) == "晴，25°C"
    sent = web.hits("/weather")[0]
    assert sent.json() == {"q": city, "days": 3, "note": f"城市：{city}!"}  # valid JSON, exact
    assert sent.headers["x-source"] == "xiaozhi"
    assert sent.headers["content-type"].startswith("application/json")

    await wait_until(lambda: recorder.calls)
    record = recorder.calls[-1]
    assert (record.tool, record.outcome, record.custom_tool_id) == ("weather", "ok", 7)
    assert record.server_id is None and record.endpoint_id == 1
    assert record.result_text == "晴，25°C"


async def test_auth_kinds(hub, web):
    web.route("GET", "/me", lambda seen: Answer(200, {"headers": seen.headers}))
    base = {"type": "http", "url": web.url("/me"), "method": "GET"}
    await offer(
        hub,
        custom(1, "bearer", {**base, "auth": {"type": "bearer", "token": "tok-123"}}),
        custom(2, "basic", {**base, "auth": {"type": "basic", "username": "u", "password": "p:w"}}),
        custom(3, "apikey", {**base, "auth": {"type": "api_key", "api_key": "k-9"}}),
        custom(
            4,
            "apikey2",
            {**base, "auth": {"type": "api_key", "api_key": "k-8", "api_key_header": "X-Token"}},
        ),
    )
    seen = {}
    for name in ("bearer", "basic", "apikey", "apikey2"):
        seen[name] = json.loads(text(await call(hub, name)))["headers"]
    assert seen["bearer"]["authorization"] == "Bearer tok-123"
    assert seen["basic"]["authorization"] == "Basic " + base64.b64encode(b"u:p:w").decode()
    assert seen["apikey"]["x-api-key"] == "k-9"
    assert seen["apikey2"]["x-token"] == "k-8"


async def test_get_sends_the_arguments_as_the_query_and_fills_the_url(hub, web):
    # the path arrives percent-encoded: {{city}} in a URL is quoted
    web.route("GET", "/city/%E4%B8%8A%E6%B5%B7", lambda seen: Answer(200, {"query": seen.query}))
    await offer(
        hub,
        custom(1, "lookup", {"type": "http", "url": web.url("/city/{{city}}"), "method": "GET"}),
    )
    result = await call(hub, "lookup", {"city": "上海", "days": 2})
    assert not result.is_error, text(result)
    assert json.loads(text(result))["query"] == {"city": ["上海"], "days": ["2"]}


async def test_error_answers_are_tool_errors_not_json_rpc_errors(hub, recorder, web):
    web.route("POST", "/boom", Answer(500, {"message": "database down"}))
    web.route("POST", "/soft", Answer(200, {"ok": False, "error": {"message": "city unknown"}}))
    web.route("POST", "/flag", Answer(200, {"success": False, "data": None}))
    mapping = {"error_path": "error.message", "data_path": "data"}
    await offer(
        hub,
        custom(1, "boom", {"type": "http", "url": web.url("/boom")}),
        custom(2, "soft", {"type": "http", "url": web.url("/soft"), "response_mapping": mapping}),
        custom(
            3,
            "flag",
            {
                "type": "http",
                "url": web.url("/flag"),
                "response_mapping": {"success_path": "success"},
            },
        ),
    )
    boom = await call(hub, "boom")
    assert boom.is_error and "HTTP 500" in text(boom) and "database down" in text(boom)
    soft = await call(hub, "soft")
    assert soft.is_error and text(soft) == "city unknown"
    flag = await call(hub, "flag")
    assert flag.is_error and "success is false" in text(flag)
    await wait_until(lambda: len(recorder.calls) == 3)
    assert {c.outcome for c in recorder.calls} == {"tool_error"}


async def test_retries_with_backoff_then_succeeds(hub, web):
    answers = iter([Answer(503, "busy"), Answer(502, "busy"), Answer(200, {"v": 1})])
    web.route("POST", "/flaky", lambda seen: next(answers))
    handler = {
        "type": "http",
        "url": web.url("/flaky"),
        "retry_count": 2,
        "retry_delay": 50,
        "response_mapping": {"data_path": "v"},
    }
    await offer(hub, custom(1, "flaky", handler))
    result = await call(hub, "flaky")
    assert not result.is_error and text(result) == "1"
    assert len(web.hits("/flaky")) == 3


async def test_retries_spent_is_a_tool_error_naming_the_last_status(hub, web):
    web.route("POST", "/down", Answer(503, "still busy"))
    handler = {"type": "http", "url": web.url("/down"), "retry_count": 1, "retry_delay": 10}
    await offer(hub, custom(1, "down", handler))
    result = await call(hub, "down")
    assert result.is_error and "HTTP 503" in text(result)
    assert len(web.hits("/down")) == 2


async def test_an_attempt_timeout_is_a_tool_error_and_retried(hub, recorder, web):
    web.route("POST", "/slow", Answer(200, {"late": True}, delay=2.0))
    handler = {"type": "http", "url": web.url("/slow"), "retry_count": 1, "retry_delay": 10}
    await offer(hub, custom(1, "slow", handler, timeout=0.3))
    result = await call(hub, "slow")
    assert result.is_error
    assert "no answer within 0.3 s" in text(result) and "after 2 attempts" in text(result)
    await wait_until(lambda: recorder.calls)
    assert recorder.calls[-1].outcome == "tool_error"


async def test_bad_arguments_are_invalid_params(hub, recorder, web):
    web.route("POST", "/weather", Answer(200, "{}"))
    await offer(
        hub, custom(1, "weather", {"type": "http", "url": web.url("/weather")}, schema=CITY)
    )
    error = await request_error(hub, "weather", {"days": 2})
    assert error["code"] == -32602 and "'city' is a required property" in error["message"]
    error = await request_error(hub, "weather", {"city": "x", "days": "two"})
    assert error["code"] == -32602 and "days" in error["message"]
    assert not web.hits("/weather")  # the handler never ran
    await wait_until(lambda: len(recorder.calls) == 2)
    assert {c.outcome for c in recorder.calls} == {"error"}


async def test_changes_apply_at_run_time(hub, web):
    web.route("POST", "/a", Answer(200, "A"))
    web.route("POST", "/b", Answer(200, "B"))
    await offer(hub, custom(1, "switch", {"type": "http", "url": web.url("/a")}))
    assert text(await call(hub, "switch")) == "A"
    await offer(hub, custom(1, "switch", {"type": "http", "url": web.url("/b")}))
    assert text(await call(hub, "switch")) == "B"
    await hub.manager.set_custom_tools(
        [custom(1, "switch", {"type": "http", "url": web.url("/b")}, enabled=False)]
    )
    await hub.wait_offered("switch", present=False)
    assert (await request_error(hub, "switch"))["code"] == -32601
