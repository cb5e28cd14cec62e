"""`{{argument}}` substitution in a JSON body template and in a URL.

Substitution goes by position: inside a JSON string, the value is written as
JSON string content (quotes, backslashes and control characters escaped,
Chinese kept as is); a placeholder that is the whole string (`"{{count}}"`)
or stands outside a string takes the value's JSON form, so numbers, booleans
and objects keep their type. A missing argument is empty text inside a string
and `null` elsewhere (a whole string included). The result is therefore valid
JSON whatever the arguments hold.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}")


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _as_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _escaped(value: Any) -> str:
    return json.dumps(_as_text(value), ensure_ascii=False)[1:-1]


def render_json(template: str, arguments: dict[str, Any]) -> str:
    out: list[str] = []
    opened: int | None = None  # index in `out` of the quote opening the current string
    i = 0
    while i < len(template):
        match = _PLACEHOLDER.match(template, i)
        if match is not None:
            value = arguments.get(match.group(1))
            end = match.end()
            if opened == len(out) - 1 and template[end : end + 1] == '"':
                out[-1] = _as_json(value)  # the whole string: the JSON form, quotes included
                opened = None
                i = end + 1
            else:
                out.append(_escaped(value) if opened is not None else _as_json(value))
                i = end
            continue
        char = template[i]
        if opened is not None and char == "\\" and i + 1 < len(template):
            out.append(template[i : i + 2])
            i += 2
            continue
        if char == '"':
            opened = len(out) if opened is None else None
        out.append(char)
        i += 1
    return "".join(out)


def render_url(url: str, arguments: dict[str, Any]) -> str:
    return _PLACEHOLDER.sub(lambda m: quote(_as_text(arguments.get(m.group(1))), safe=""), url)


def placeholders(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))
