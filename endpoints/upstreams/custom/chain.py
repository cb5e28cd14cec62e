"""The `chain` kind: several tools called in sequence or at once.

Handler: {type: chain, tools: [names], mode: sequential|parallel,
error_handling: stop|continue|retry, retry_count? (default 2)}. The names are
the tools as endpoints see them (another custom tool, or `<server>__<tool>`),
called through the manager, so each step is checked, timed and logged as a
call of its own.

Sequential: the first tool gets the chain's arguments; each next one gets the
chain's arguments overlaid with the previous output: its keys when the output
is a JSON object, else {"input": <the output text>}. The last output is the
chain's text. Parallel: every tool gets the chain's arguments; the text lists
each tool's output under its name.

On a step's error (an `isError` result or a failed call): stop ends the chain
with an `isError` result naming the step; continue notes the error and goes
on (sequentially, with the last good output), and the chain is an error only
when every step failed; retry calls the step again up to retry_count times,
then stops.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from mcp import types

from .text import error_result, ok_result, result_text

CallTool = Callable[[str, dict], Awaitable[types.CallToolResult]]
MAX_DEPTH = 4  # chains within chains; deeper is a loop (a chain that names itself)
DEFAULT_RETRIES = 2
_depth: ContextVar[int] = ContextVar("custom_chain_depth", default=0)


class _StepFailed(Exception):
    pass


def next_arguments(chain_arguments: dict, output: str) -> dict[str, Any]:
    try:
        parsed = json.loads(output)
    except ValueError:
        parsed = None
    overlay = parsed if isinstance(parsed, dict) else {"input": output}
    return {**chain_arguments, **overlay}


async def run_chain(handler: dict, arguments: dict, call: CallTool) -> types.CallToolResult:
    depth = _depth.get()
    if depth >= MAX_DEPTH:
        return error_result(f"chains nest deeper than {MAX_DEPTH} (does a chain call itself?)")
    token = _depth.set(depth + 1)
    try:
        if handler.get("mode") == "parallel":
            return await _parallel(handler, arguments, call)
        return await _sequential(handler, arguments, call)
    finally:
        _depth.reset(token)


async def _step(handler: dict, name: str, arguments: dict, call: CallTool) -> str:
    """The step's output text, or _StepFailed with its error (after the retries)."""
    retries = handler.get("retry_count", DEFAULT_RETRIES)
    if handler.get("error_handling") != "retry" or not isinstance(retries, int) or retries < 0:
        retries = 0
    error = ""
    for _attempt in range(retries + 1):
        try:
            result = await call(name, arguments)
        except Exception as exc:  # noqa: BLE001 - a step's failure is the chain's to handle
            error = str(exc) or type(exc).__name__
            continue
        if not result.is_error:
            return result_text(result)
        error = result_text(result) or "error"
    raise _StepFailed(error)


async def _sequential(handler: dict, arguments: dict, call: CallTool) -> types.CallToolResult:
    tools: list[str] = handler["tools"]
    keep_going = handler.get("error_handling") == "continue"
    step_arguments = dict(arguments)
    output: str | None = None
    notes: list[str] = []
    for index, name in enumerate(tools, 1):
        try:
            output = await _step(handler, name, step_arguments, call)
        except _StepFailed as exc:
            if not keep_going:
                return error_result(f"the chain stopped at step {index} ({name}): {exc}")
            notes.append(f"step {index} ({name}) failed: {exc}")
            continue
        step_arguments = next_arguments(arguments, output)
    if output is None:
        return error_result("every step of the chain failed:\n" + "\n".join(notes))
    return ok_result("\n".join([*notes, output]) if notes else output)


async def _parallel(handler: dict, arguments: dict, call: CallTool) -> types.CallToolResult:
    tools: list[str] = handler["tools"]
    outcomes = await asyncio.gather(
        *(_step(handler, name, dict(arguments), call) for name in tools), return_exceptions=True
    )
    failed = [
        (name, o) for name, o in zip(tools, outcomes, strict=True) if isinstance(o, BaseException)
    ]
    for _name, outcome in failed:
        if not isinstance(outcome, _StepFailed):
            raise outcome
    parts = [
        f"[{name}] " + (f"failed: {outcome}" if isinstance(outcome, BaseException) else outcome)
        for name, outcome in zip(tools, outcomes, strict=True)
    ]
    text = "\n\n".join(parts)
    if failed and (handler.get("error_handling") != "continue" or len(failed) == len(tools)):
        return error_result(text)
    return ok_result(text)
