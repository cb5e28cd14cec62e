"""Coze's open API as a local server, for proxy tools: the workflow-run route
(POST /v1/workflow/run) and the bot chat routes, with Coze's auth and answer shapes.

Workflow-run answers {code, msg, data, debug_url, usage}: code 0 and `data` a
JSON *string* on success; a non-zero code and a message otherwise (4100 for a
bad token, with HTTP 401; 4200 for an unknown workflow).
"""

from __future__ import annotations

import json

from .local_http import Answer, LocalHttp, Seen

TOKEN = "pat_LocalCozeToken123"
WORKFLOWS = {"7480000000000000001", "7480000000000000002", "7480000000000000003"}
SLOW_WORKFLOW = "7480000000000000009"
BOT = "7490000000000000001"


def _auth_failure(seen: Seen) -> Answer | None:
    if seen.headers.get("authorization") != f"Bearer {TOKEN}":
        return Answer(
            401, {"code": 4100, "msg": "authentication is invalid", "detail": {"logid": "x"}}
        )
    return None


def workflow_run(seen: Seen) -> Answer:
    refused = _auth_failure(seen)
    if refused is not None:
        return refused
    body = seen.json()
    workflow = body.get("workflow_id")
    if workflow == SLOW_WORKFLOW:
        return Answer(200, {"code": 0, "msg": "Success", "data": "{}"}, delay=3.0)
    if workflow not in WORKFLOWS:
        return Answer(
            200, {"code": 4200, "msg": f"The requested workflow {workflow} does not exist."}
        )
    parameters = body.get("parameters") or {}
    if workflow == "7480000000000000002":  # a workflow whose output is structured
        data = {"output": {"city": parameters.get("city"), "temp": 25}}
    elif workflow == "7480000000000000003":  # several end-node variables
        data = {"weather": "晴", "city": parameters.get("city")}
    else:
        data = {"output": f"{parameters.get('city')}：晴，25°C"}
    return Answer(
        200,
        {
            "code": 0,
            "msg": "Success",
            "data": json.dumps(data, ensure_ascii=False),
            "debug_url": "https://www.coze.cn/work_flow?execute_id=1",
            "usage": {"input_count": 10, "output_count": 20, "token_count": 30},
        },
    )


def chat(seen: Seen) -> Answer:
    refused = _auth_failure(seen)
    if refused is not None:
        return refused
    body = seen.json()
    if body.get("bot_id") != BOT:
        return Answer(200, {"code": 4015, "msg": "The bot_id has not been published"})
    return Answer(
        200,
        {
            "code": 0,
            "msg": "",
            "data": {"id": "chat1", "conversation_id": "conv1", "status": "in_progress"},
        },
    )


def chat_retrieve(seen: Seen) -> Answer:
    return _auth_failure(seen) or Answer(
        200,
        {
            "code": 0,
            "msg": "",
            "data": {"id": "chat1", "conversation_id": "conv1", "status": "completed"},
        },
    )


def chat_messages(seen: Seen) -> Answer:
    return _auth_failure(seen) or Answer(
        200,
        {
            "code": 0,
            "msg": "",
            "data": [
                {"role": "assistant", "type": "function_call", "content": "{}"},
                {"role": "assistant", "type": "answer", "content": "你好，我是扣子机器人"},
                {"role": "assistant", "type": "follow_up", "content": "还有什么?"},
            ],
        },
    )


def fake_coze() -> LocalHttp:
    server = LocalHttp()
    server.route("POST", "/v1/workflow/run", workflow_run)
    server.route("POST", "/v3/chat", chat)
    server.route("GET", "/v3/chat/retrieve", chat_retrieve)
    server.route("GET", "/v3/chat/message/list", chat_messages)
    return server
