"""The `proxy` kind for Coze end to end, against a local server reproducing Coze's
workflow-run and bot-chat routes, auth and answer/error shapes."""

from __future__ import annotations

import pytest

from tests.endpoints.pool.conftest import wait_until

from .conftest import call, custom, offer, text
from .fake_coze import BOT, SLOW_WORKFLOW, TOKEN, fake_coze

CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


@pytest.fixture
def coze():
    with fake_coze() as server:
        yield server


def workflow(tool_id: int, name: str, workflow_id: str, coze, *, token=TOKEN, **config):
    return custom(
        tool_id,
        name,
        {"type": "proxy", "platform": "coze", "config": {"workflow_id": workflow_id, **config}},
        schema=CITY,
        platform={"token": token, "baseUrl": coze.url()},
    )


async def test_a_workflow_run_maps_arguments_to_parameters_and_data_to_text(hub, recorder, coze):
    await offer(
        hub,
        workflow(1, "weather", "7480000000000000001", coze, params={"unit": "C"}),
        workflow(2, "weather_json", "7480000000000000002", coze),
        workflow(3, "weather_vars", "7480000000000000003", coze),
    )
    result = await call(hub, "weather", {"city": "杭州"})
    assert not result.is_error and text(result) == "杭州：晴，25°C"
    sent = coze.hits("/v1/workflow/run")[0]
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    assert sent.json() == {
        "workflow_id": "7480000000000000001",
        "parameters": {"unit": "C", "city": "杭州"},
    }
    structured = await call(hub, "weather_json", {"city": "苏州"})
    assert text(structured) == '{"city": "苏州", "temp": 25}'
    variables = await call(hub, "weather_vars", {"city": "苏州"})
    assert text(variables) == '{"weather": "晴", "city": "苏州"}'
    await wait_until(lambda: len(recorder.calls) == 3)
    assert {c.outcome for c in recorder.calls} == {"ok"}


async def test_coze_error_codes_are_clear_tool_errors(hub, recorder, coze):
    await offer(
        hub,
        workflow(1, "bad_token", "7480000000000000001", coze, token="pat_wrong"),
        workflow(2, "no_workflow", "7480000000000000404", coze),
        workflow(3, "no_token", "7480000000000000001", coze, token=""),
    )
    refused = await call(hub, "bad_token", {"city": "x"})
    assert refused.is_error
    assert "Coze error 4100: authentication is invalid" in text(refused)
    assert "platforms.coze.token" in text(refused)
    missing = await call(hub, "no_workflow", {"city": "x"})
    assert missing.is_error and text(missing).startswith("Coze error 4200: The requested workflow")
    no_token = await call(hub, "no_token", {"city": "x"})
    assert no_token.is_error and "no Coze token" in text(no_token)
    await wait_until(lambda: len(recorder.calls) == 3)
    assert {c.outcome for c in recorder.calls} == {"tool_error"}


async def test_a_coze_timeout_is_a_tool_error(hub, coze):
    tool = workflow(1, "slow_flow", SLOW_WORKFLOW, coze)
    await offer(hub, tool.__class__(**{**tool.__dict__, "timeout": 0.3}))
    result = await call(hub, "slow_flow", {"city": "x"})
    assert result.is_error and text(result) == "Coze did not answer within 0.3 s"


async def test_the_handler_api_key_and_base_url_win_over_the_platform(hub, coze):
    handler = {
        "type": "proxy",
        "platform": "coze",
        "config": {"workflow_id": "7480000000000000001", "api_key": TOKEN, "base_url": coze.url()},
    }
    platform = {"token": "pat_wrong", "baseUrl": "http://127.0.0.1:9"}
    await offer(hub, custom(1, "own", handler, schema=CITY, platform=platform))
    assert text(await call(hub, "own", {"city": "上海"})) == "上海：晴，25°C"


async def test_a_bot_chat(hub, coze):
    handler = {"type": "proxy", "platform": "coze", "config": {"bot_id": BOT}}
    schema = {"type": "object", "properties": {"message": {"type": "string"}}}
    await offer(
        hub,
        custom(1, "bot", handler, schema=schema, platform={"token": TOKEN, "baseUrl": coze.url()}),
    )
    result = await call(hub, "bot", {"message": "你好"})
    assert not result.is_error and text(result) == "你好，我是扣子机器人"
    sent = coze.hits("/v3/chat")[0].json()
    assert sent["bot_id"] == BOT and sent["stream"] is False
    assert sent["additional_messages"][0]["content"] == "你好"
    assert coze.hits("/v3/chat/message/list")[0].query == {
        "conversation_id": ["conv1"],
        "chat_id": ["chat1"],
    }
