"""JSON from clients, parsed within a size and a nesting-depth limit.

The standard parser recurses once per nesting level, so 100,000 `[` raise
RecursionError (a 500) instead of a clear error. It also lets lone surrogates
(`"\\ud800"`) through, and no UTF-8 database column (nor MariaDB's JSON check)
accepts them. `loads_limited` is the one JSON parser for what clients send
(REST bodies, chat reports, console frames): it refuses such input with
`JsonInputError`, and never raises anything else.
"""

from __future__ import annotations

import json
import re
from array import array
from itertools import accumulate
from typing import Any

# A JSON string token (escapes included), unrolled so long strings match without backtracking.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
# Opening brackets become the signed byte +1, closing ones -1; other bytes are dropped.
_BRACKET_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
# A surrogate code point, or the escape of one: only then can a lone surrogate result.
_MAYBE_SURROGATE = re.compile(r"[\ud800-\udfff]|\\u[dD][89a-fA-F]")


class JsonInputError(ValueError):
    """JSON input refused. The message is the reason, fit to show the client after
    the caller's own words ("invalid JSON: ...")."""


class JsonTooLarge(JsonInputError):
    """The input is over the size limit (HTTP answers it with 413)."""


def loads_limited(data: str | bytes, *, max_depth: int, max_bytes: int | None) -> Any:
    """`data` (UTF-8 bytes or text) parsed as strict JSON, or JsonInputError.

    Refused: more than `max_bytes` bytes (None: no limit; JsonTooLarge), arrays and
    objects nested more than `max_depth` levels deep (checked before parsing, so
    the parser's recursion stays shallow), NaN and Infinity, lone surrogates.
    """
    if isinstance(data, bytes):
        size = len(data)
    else:
        size = len(data.encode("utf-8", "surrogatepass"))
    if max_bytes is not None and size > max_bytes:
        raise JsonTooLarge(f"larger than {max_bytes} bytes")
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JsonInputError(f"not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    else:
        text = data
    _check_depth(text, max_depth)
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except JsonInputError:
        raise
    except ValueError as exc:  # JSONDecodeError, and ints over Python's digit limit
        raise JsonInputError(str(exc)) from None
    if _MAYBE_SURROGATE.search(text) and _holds_lone_surrogate(value):
        raise JsonInputError("a string holds a lone surrogate (\\ud800-\\udfff), not Unicode text")
    return value


def _check_depth(text: str, max_depth: int) -> None:
    # Only brackets outside strings nest. Each becomes a step (+1 opens, -1 closes;
    # the kinds are merged, a mismatch is the parser's error) and the deepest
    # running sum is the deepest nesting, which bounds the parser's recursion. It
    # all runs in C (re.sub, bytes.translate, accumulate): input can be megabytes.
    outside_strings = _STRING.sub("", text).encode("utf-8", "surrogatepass")
    steps = outside_strings.translate(_BRACKET_STEPS, _NOT_BRACKETS)
    too_deep = b"\x01" * (max_depth + 1) in steps  # the usual attack, found at once
    if too_deep or max(accumulate(array("b", steps)), default=0) > max_depth:
        raise JsonInputError(f"nested deeper than {max_depth} levels")


def _refuse_constant(name: str) -> Any:
    raise JsonInputError(f"{name} is not a JSON number")


def _holds_lone_surrogate(value: Any) -> bool:
    # Encoding fails exactly on unpaired surrogates (the parser joins escaped pairs).
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
