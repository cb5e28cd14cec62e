"""The `proxy` kind for Coze: run a workflow, or chat with a bot, through Coze's open API.

Handler: {type: proxy, platform: coze, config: {workflow_id | bot_id, api_key?,
base_url?, timeout? (ms), params? (fixed parameters), headers?}}. The token
is config.api_key, else the `coze` platform's token (or apiKey); the base URL
is config.base_url, else the platform's baseUrl, else https://api.coze.cn.

Workflow: POST {base}/v1/workflow/run {workflow_id, parameters} with
`Authorization: Bearer <token>`; Coze answers {code, msg, data} where code 0
is success and data is the workflow's output as a JSON string: its `output`
(or the whole data) becomes the tool's text. A non-zero code, an HTTP error
or a timeout is the tool's `isError` result, naming Coze's code and message.

Bot: POST {base}/v3/chat (not streamed), then GET /v3/chat/retrieve until the
chat is done and GET /v3/chat/message/list for the bot's `answer` messages.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx2
from mcp import types

from .text import clip, error_result, ok_result

DEFAULT_BASE_URL = "https://api.coze.cn"
POLL_INTERVAL = 0.5  # seconds between looks at a bot chat that is not done
CHAT_USER = "xiaozhi-hub"
# Codes whose message alone does not say what to do.
HINTS = {
    4100: "the token is invalid or expired: check platforms.coze.token",
    4101: "the token lacks a permission this call needs (e.g. run): widen it on Coze",
}
DONE_STATES = frozenset({"completed", "failed", "requires_action", "canceled"})


class CozeFailure(Exception):
    """Coze refused or failed the call; the text is the tool's error."""


def coze_settings(handler: dict, platform: dict) -> tuple[str, str]:
    """(base URL, token) of a call."""
    config = handler.get("config") or {}
    base = config.get("base_url") or platform.get("baseUrl") or DEFAULT_BASE_URL
    token = config.get("api_key") or platform.get("token") or platform.get("apiKey") or ""
    return str(base).rstrip("/"), str(token)


def _check(response: httpx2.Response) -> Any:
    """Coze's `data` of an answer, or CozeFailure naming the code and message."""
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise CozeFailure(f"Coze answered HTTP {response.status_code}: {clip(response.text, 500)}")
    code = answer.get("code")
    if code not in (0, None) or not 200 <= response.status_code < 300:
        message = answer.get("msg") or answer.get("message") or ""
        hint = HINTS.get(code) if isinstance(code, int) else None
        text = (
            f"Coze error {code}: {message}" if code is not None else f"HTTP {response.status_code}"
        )
        raise CozeFailure(text + (f" ({hint})" if hint else ""))
    return answer.get("data")


def workflow_text(data: Any) -> str:
    """The tool's text for a workflow's `data` (a JSON string, usually {"output": ...})."""
    if isinstance(data, str):
        try:
            parsed = json.loads(data)
        except ValueError:
            return data
    else:
        parsed = data
    if isinstance(parsed, dict) and set(parsed) == {"output"}:
        parsed = parsed["output"]
    return parsed if isinstance(parsed, str) else json.dumps(parsed, ensure_ascii=False)


def chat_message(arguments: dict) -> str:
    for key in ("message", "query", "input", "content", "text", "question"):
        if isinstance(arguments.get(key), str):
            return arguments[key]
    return json.dumps(arguments, ensure_ascii=False)


async def call_coze(
    handler: dict, arguments: dict, timeout: float, platform: dict
) -> types.CallToolResult:
    config = handler.get("config") or {}
    base, token = coze_settings(handler, platform)
    if not token:
        return error_result(
            "no Coze token: set the `coze` platform's token (platforms.coze.token) "
            "or the handler's config.api_key"
        )
    headers = {str(k): str(v) for k, v in (config.get("headers") or {}).items()}
    headers["Authorization"] = f"Bearer {token}"
    try:
        async with httpx2.AsyncClient(base_url=base, headers=headers, timeout=timeout) as client:
            async with asyncio.timeout(timeout):
                if config.get("workflow_id"):
                    return ok_result(await _workflow(client, config, arguments))
                return ok_result(await _bot_chat(client, config, arguments))
    except CozeFailure as exc:
        return error_result(str(exc))
    except (TimeoutError, httpx2.TimeoutException):
        return error_result(f"Coze did not answer within {timeout:g} s")
    except httpx2.HTTPError as exc:
        return error_result(f"could not reach Coze at {base}: {exc or type(exc).__name__}")


async def _workflow(client: httpx2.AsyncClient, config: dict, arguments: dict) -> str:
    body: dict[str, Any] = {
        "workflow_id": str(config["workflow_id"]),
        "parameters": {**(config.get("params") or {}), **arguments},
    }
    for key in ("bot_id", "app_id"):
        if config.get(key):
            body[key] = str(config[key])
    response = await client.post("/v1/workflow/run", json=body)
    return workflow_text(_check(response))


async def _bot_chat(client: httpx2.AsyncClient, config: dict, arguments: dict) -> str:
    body = {
        "bot_id": str(config["bot_id"]),
        "user_id": str(config.get("user_id") or CHAT_USER),
        "stream": False,
        "auto_save_history": True,
        "additional_messages": [
            {"role": "user", "content": chat_message(arguments), "content_type": "text"}
        ],
    }
    chat = _check(await client.post("/v3/chat", json=body)) or {}
    ids = {"conversation_id": chat.get("conversation_id"), "chat_id": chat.get("id")}
    status = chat.get("status")
    started = time.monotonic()
    while status not in DONE_STATES:
        await asyncio.sleep(min(POLL_INTERVAL * (1 + (time.monotonic() - started) / 10), 2.0))
        chat = _check(await client.get("/v3/chat/retrieve", params=ids)) or {}
        status = chat.get("status")
    if status != "completed":
        error = (chat.get("last_error") or {}).get("msg") or status
        raise CozeFailure(f"the Coze bot chat ended {status}: {error}")
    messages = _check(await client.get("/v3/chat/message/list", params=ids)) or []
    answers = [
        m.get("content", "")
        for m in messages
        if isinstance(m, dict) and m.get("role") == "assistant" and m.get("type") == "answer"
    ]
    return "\n".join(answers)
