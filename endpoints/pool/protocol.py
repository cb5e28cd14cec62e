"""The MCP server side the hub plays on each endpoint: JSON-RPC 2.0, one message per frame.

A small dispatcher over `mcp.types` models rather than the SDK's server
runner: the SDK server owns its session (it cannot send the hub's own
arbitrary requests and match their answers, and negotiates versions itself),
while the xiaozhi wire rules (docs/protocols.md, "xiaozhi MCP endpoint wire
protocol") must hold exactly: `initialize` with id 0 is answered and
`2024-11-05` echoed, notifications are never answered, every request gets a
result or an error, malformed JSON gets -32700 with id null.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

from mcp import types
from mcp_types import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
)
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from xiaozhi_hub.masking import mask_text

from .registry import (
    ToolInvalidArguments,
    ToolNotFound,
    ToolRegistry,
    ToolTimeout,
    ToolUnavailable,
)

logger = logging.getLogger("endpoints.pool")

DEFAULT_PROTOCOL_VERSION = "2024-11-05"  # what xiaozhi sends; answered when a version is unknown
EXECUTION_ERROR = -32000
TOOL_UNAVAILABLE = -32001
TOOL_TIMEOUT = -32002
TOO_MANY_REQUESTS = -32003  # over PeerLimits.max_inflight: answered at once, not forwarded
MAX_NESTING = 64  # deepest arrays/objects in a frame; MCP messages need a handful

RequestId = int | str


def encode(message: dict) -> str:
    text = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate (a peer may send "\ud800" in an id or method) cannot go
        # out as UTF-8; as a \u escape it is valid JSON again.
        return json.dumps(message, separators=(",", ":"))
    return text


def result_response(request_id: RequestId | None, result: dict) -> dict:
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def error_response(request_id: RequestId | None, code: int, message: str) -> dict:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}


class RequestError(Exception):
    """Turned into a JSON-RPC error response."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Incoming:
    """One parsed frame. kind: request | notification | response | invalid."""

    kind: str
    message: dict | None = None
    reply: dict | None = None  # for `invalid`: the error to send back


def valid_id(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def nesting_exceeds(value: Any, limit: int) -> bool:
    """True when arrays/objects in `value` nest deeper than `limit` (no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def parse_frame(raw: str | bytes) -> Incoming:
    """Sort a frame into request / notification / response, or the error it deserves."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        message = json.loads(text)
    except (UnicodeDecodeError, ValueError) as exc:
        return Incoming("invalid", reply=error_response(None, PARSE_ERROR, f"Parse error: {exc}"))
    except RecursionError:  # json's parser gives up on deep nesting ("[[[[..." ) this way
        return Incoming("invalid", reply=_too_deep(None))
    # Nesting is never deeper than the frame's opening brackets: count them (at C
    # speed) before walking the message, which would cost every call.
    brackets = text.count("{") + text.count("[")
    if brackets > MAX_NESTING and nesting_exceeds(message, MAX_NESTING):
        request_id = message.get("id") if isinstance(message, dict) else None
        return Incoming("invalid", reply=_too_deep(request_id if valid_id(request_id) else None))
    if not isinstance(message, dict):
        return Incoming(
            "invalid",
            reply=error_response(None, INVALID_REQUEST, "Invalid Request: expected a JSON object"),
        )
    has_id = "id" in message and message["id"] is not None
    if "method" in message:
        if not isinstance(message["method"], str):
            reply_id = message["id"] if has_id and valid_id(message["id"]) else None
            return Incoming(
                "invalid",
                reply=error_response(reply_id, INVALID_REQUEST, "Invalid Request: bad method"),
            )
        if not has_id:
            return Incoming("notification", message)
        if not valid_id(message["id"]):
            return Incoming(
                "invalid",
                reply=error_response(None, INVALID_REQUEST, "Invalid Request: bad id"),
            )
        return Incoming("request", message)
    if has_id and ("result" in message or "error" in message):
        return Incoming("response", message)
    reply_id = message["id"] if has_id and valid_id(message["id"]) else None
    return Incoming(
        "invalid",
        reply=error_response(reply_id, INVALID_REQUEST, "Invalid Request: no method"),
    )


def _too_deep(request_id: RequestId | None) -> dict:
    return error_response(
        request_id, PARSE_ERROR, f"Parse error: nested deeper than {MAX_NESTING} levels"
    )


def too_many_requests(request_id: RequestId, limit: int) -> dict:
    return error_response(
        request_id,
        TOO_MANY_REQUESTS,
        f"Too many requests in flight: {limit} requests of this connection are still "
        "being answered; this one was not run. Wait for answers before sending more.",
    )


def dump(model: types.Tool | types.CallToolResult) -> dict:
    data = model.model_dump(by_alias=True, mode="json", exclude_none=True)
    data.pop("resultType", None)  # a 2026 field; 2024-11-05 peers do not expect it
    return data


class McpServerHandler:
    """Answers the requests a xiaozhi peer sends. One instance serves every connection."""

    def __init__(
        self,
        registry: ToolRegistry,
        *,
        server_name: str,
        server_version: str,
        tool_call_timeout: float,
    ) -> None:
        self.registry = registry
        self.server_info = {"name": server_name, "version": server_version}
        self.tool_call_timeout = tool_call_timeout

    async def respond(self, request: dict) -> dict:
        """The response to one request (never raises)."""
        request_id = request["id"]
        method = request["method"]
        params = request.get("params")
        if params is None:
            params = {}
        try:
            if not isinstance(params, dict):
                raise RequestError(INVALID_PARAMS, "Invalid params: expected an object")
            handler = self._handlers.get(method)
            if handler is None:
                raise RequestError(METHOD_NOT_FOUND, f"Method not found: {method[:100]}")
            return result_response(request_id, await handler(self, params))
        except RequestError as exc:
            return error_response(request_id, exc.code, exc.message)
        except Exception as exc:  # answer, never go silent; the pool survives
            logger.exception("internal error answering %s", method)
            return error_response(request_id, INTERNAL_ERROR, f"Internal error: {_describe(exc)}")

    async def _initialize(self, params: dict) -> dict:
        requested = params.get("protocolVersion")
        if not isinstance(requested, str):
            raise RequestError(INVALID_PARAMS, "Invalid params: protocolVersion must be a string")
        known = requested in HANDSHAKE_PROTOCOL_VERSIONS
        version = requested if known else DEFAULT_PROTOCOL_VERSION
        return {
            "protocolVersion": version,
            "capabilities": {"tools": {"listChanged": True}},
            "serverInfo": dict(self.server_info),
        }

    async def _ping(self, params: dict) -> dict:
        return {}

    async def _list_tools(self, params: dict) -> dict:
        cursor = params.get("cursor")
        if cursor is not None and not isinstance(cursor, str):
            raise RequestError(INVALID_PARAMS, "Invalid params: cursor must be a string")
        # One page holds every tool; a cursor is accepted and needs no next page.
        return {"tools": [dump(tool) for tool in await self.registry.list_tools()]}

    async def _call_tool(self, params: dict) -> dict:
        name = params.get("name")
        arguments = params.get("arguments")
        if arguments is None:
            arguments = {}
        if not isinstance(name, str) or not name:
            raise RequestError(INVALID_PARAMS, "Invalid params: name must be a non-empty string")
        if not isinstance(arguments, dict):
            raise RequestError(INVALID_PARAMS, "Invalid params: arguments must be an object")
        try:
            async with asyncio.timeout(self.tool_call_timeout):
                result = await self.registry.call_tool(name, arguments)
        except ToolNotFound as exc:
            raise RequestError(METHOD_NOT_FOUND, f"Unknown tool: {name}") from exc
        except ToolUnavailable as exc:
            raise RequestError(TOOL_UNAVAILABLE, f"Tool unavailable: {_describe(exc)}") from exc
        except (ToolTimeout, TimeoutError) as exc:
            raise RequestError(
                TOOL_TIMEOUT, f"Tool {name} timed out: {_describe(exc) or 'no answer in time'}"
            ) from exc
        except ToolInvalidArguments as exc:
            raise RequestError(INVALID_PARAMS, f"Invalid params: {_describe(exc)}") from exc
        except Exception as exc:
            logger.warning("tool %s failed: %s", name, _describe(exc))
            raise RequestError(EXECUTION_ERROR, f"Tool {name} failed: {_describe(exc)}") from exc
        if not isinstance(result, types.CallToolResult):
            raise RequestError(INTERNAL_ERROR, f"Tool {name} returned {type(result).__name__}")
        return dump(result)

    _handlers = {
        "initialize": _initialize,
        "ping": _ping,
        "tools/list": _list_tools,
        "tools/call": _call_tool,
    }


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return mask_text(text)
