"""The `http` kind: one HTTP request per call, with retries, answered as tool text.

Handler (xiaozhi-client's shape): url (may hold `{{argument}}`), method
(POST by default), headers, auth {type: bearer|basic|api_key, token,
username, password, api_key, api_key_header}, timeout (ms, one attempt),
retry_count, retry_delay (ms, doubled each retry), body_template (JSON with
`{{argument}}`; without one the arguments are the JSON body, or the query
string for GET and DELETE), response_mapping {success_path, error_path,
data_path}.

A non-2xx answer, a hit error path or a false success path is the tool's
`isError` result; so is a connection failure or an attempt timeout once the
retries are spent. Retries follow connection failures, attempt timeouts, 429
and 5xx answers only.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx2
from mcp import types

from xiaozhi_hub.masking import mask_text, mask_url

from .paths import MISSING, BadPath, lookup
from .template import render_json, render_url
from .text import clip, error_result, ok_result

DEFAULT_API_KEY_HEADER = "X-API-Key"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_BODY = 1_000_000  # bytes of an answer read at most


def attempts_budget(handler: dict, timeout: float) -> float:
    """Seconds every attempt and pause may take together (the call's deadline)."""
    retries = _count(handler.get("retry_count"), 0)
    delay = _count(handler.get("retry_delay"), 1000) / 1000
    return timeout * (retries + 1) + sum(delay * 2**i for i in range(retries)) + 1.0


def _count(value: Any, default: float) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return value
    return default


def build_request(handler: dict, arguments: dict) -> dict[str, Any]:
    """The keyword arguments of httpx2's request() for this call."""
    method = (handler.get("method") or "POST").upper()
    url = render_url(handler["url"], arguments)
    headers = {str(k): str(v) for k, v in (handler.get("headers") or {}).items()}
    request: dict[str, Any] = {"method": method, "url": url}
    auth = handler.get("auth") or {}
    kind = auth.get("type")
    if kind == "bearer":
        headers["Authorization"] = f"Bearer {auth.get('token', '')}"
    elif kind == "basic":
        request["auth"] = httpx2.BasicAuth(auth.get("username", ""), auth.get("password", ""))
    elif kind == "api_key":
        headers[auth.get("api_key_header") or DEFAULT_API_KEY_HEADER] = auth.get("api_key", "")
    template = handler.get("body_template")
    if isinstance(template, str) and template.strip():
        request["content"] = render_json(template, arguments).encode()
        headers.setdefault("Content-Type", "application/json; charset=utf-8")
    elif method in ("GET", "DELETE"):
        request["params"] = {
            k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
            for k, v in arguments.items()
        }
    else:
        request["content"] = json.dumps(arguments, ensure_ascii=False).encode()
        headers.setdefault("Content-Type", "application/json; charset=utf-8")
    request["headers"] = headers
    return request


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def map_response(status: int, body: str, mapping: dict) -> types.CallToolResult:
    """The tool result of an answer: status, then the mapping's paths."""
    try:
        document: Any = json.loads(body) if body.strip() else None
        parsed = True
    except ValueError:
        document, parsed = None, False
    if not 200 <= status < 300:
        return error_result(f"HTTP {status}: {clip(body, 2000) or '(empty answer)'}")
    if not mapping:
        return ok_result(body)
    if not parsed:
        return error_result(
            f"the answer is not JSON, so the response mapping cannot read it: {clip(body, 500)}"
        )
    try:
        error_path, success_path = mapping.get("error_path"), mapping.get("success_path")
        if error_path:
            error = lookup(document, error_path)
            if error is not MISSING and error not in (None, "", False, [], {}):
                return error_result(_as_text(error))
        if success_path:
            success = lookup(document, success_path)
            if success is MISSING or not success:
                shown = "missing" if success is MISSING else _as_text(success)
                return error_result(f"the answer's {success_path} is {shown}: {clip(body, 1000)}")
        data_path = mapping.get("data_path")
        if data_path:
            data = lookup(document, data_path)
            if data is MISSING:
                return error_result(f"the answer has no {data_path}: {clip(body, 1000)}")
            return ok_result(_as_text(data))
    except BadPath as exc:
        return error_result(str(exc))
    return ok_result(body)


async def call_http(handler: dict, arguments: dict, timeout: float) -> types.CallToolResult:
    request = build_request(handler, arguments)
    retries = int(_count(handler.get("retry_count"), 0))
    delay = _count(handler.get("retry_delay"), 1000) / 1000
    attempt_timeout = timeout  # the tool's timeout: the handler's, unless the operator changed it
    where = f"{request['method']} {mask_url(request['url'])}"
    last = ""
    async with httpx2.AsyncClient(timeout=attempt_timeout, follow_redirects=False) as client:
        for attempt in range(retries + 1):
            if attempt:
                await asyncio.sleep(delay * 2 ** (attempt - 1))
            try:
                async with client.stream(**request) as response:
                    body = await _read(response)
            except httpx2.TimeoutException:
                last = f"{where}: no answer within {attempt_timeout:g} s"
                continue
            except httpx2.HTTPError as exc:
                last = f"{where}: {mask_text(str(exc)) or type(exc).__name__}"
                continue
            if response.status_code in RETRY_STATUSES and attempt < retries:
                last = f"HTTP {response.status_code}"
                continue
            return map_response(response.status_code, body, handler.get("response_mapping") or {})
    tries = f" (after {retries + 1} attempts)" if retries else ""
    return error_result(f"{last}{tries}")


async def _read(response: httpx2.Response) -> str:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= MAX_BODY:
            break
    raw = b"".join(chunks)[:MAX_BODY]
    return raw.decode(response.encoding or "utf-8", errors="replace")
