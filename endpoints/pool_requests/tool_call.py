"""A test call of an aggregated tool, run by ONE pool worker as an endpoint's call would be."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from endpoints import control
from endpoints.pool.protocol import INTERNAL_ERROR
from endpoints.selectors.mcp_server import (
    tool_by_exposed_name,
    tool_call_target_worker,
    tool_effective_timeout,
)
from xiaozhi_hub.masking import mask_text


def tool_call(
    *, name: str, arguments: dict | None = None, timeout: float | None = None
) -> dict[str, Any]:
    """Call an aggregated tool through ONE running pool worker, as an endpoint would.

    Returns {"name", "worker", "durationMs", "result"} or {"name", "worker",
    "durationMs", "error": <JSON-RPC error>}; {"name", "error": {"message"},
    "poolRunning": False} when no pool runs. `timeout`, when given, bounds the call
    on the worker (-32002 past it); the tool's own timeout applies as well.
    """
    worker = None
    if control.uses_redis():
        worker = tool_call_target_worker()
        if worker is None:
            return _no_pool(name, "no endpoint pool worker is running")
    tool = tool_by_exposed_name(name=name)
    own_timeout = tool_effective_timeout(tool=tool) if tool else None
    wait = (timeout or own_timeout or settings.HUB_POOL_CONTROL_TIMEOUT) + 5
    try:
        replies = control.request(
            control.CALL_TOOL,
            timeout=wait,
            worker=worker,
            name=name,
            arguments=arguments or {},
            call_timeout=timeout,
        )
    except control.PoolUnavailable as exc:
        return _no_pool(name, str(exc))
    return tool_call_reply(name=name, replies=replies)


def _no_pool(name: str, message: str) -> dict[str, Any]:
    return {"name": name, "error": {"message": message}, "poolRunning": False}


def tool_call_reply(*, name: str, replies: list[dict]) -> dict[str, Any]:
    """The one answer of a CALL_TOOL request (the other workers skipped it)."""
    answers = [r for r in replies if not r.get("skipped")]
    if not answers:
        return _no_pool(name, "the chosen pool worker did not run the call")
    answer = answers[0]
    shaped: dict[str, Any] = {
        "name": name,
        "worker": answer.get("worker"),
        "durationMs": answer.get("durationMs"),
    }
    response = answer.get("response")
    if not isinstance(response, dict):
        message = mask_text(str(answer.get("error") or "the worker sent no response"))
        shaped["error"] = {"code": INTERNAL_ERROR, "message": message}
    elif "error" in response:
        shaped["error"] = response["error"]
    else:
        shaped["result"] = response.get("result")
    return shaped
