"""JSONPath-style lookups for response mappings: `$.data.items[0].name`, `data.items.0`.

Only the child and index steps of JSONPath, which is what a response mapping
needs (xiaozhi-client's success_path, error_path, data_path); no filters or
wildcards.
"""

from __future__ import annotations

import re
from typing import Any

_STEP = re.compile(r"""\.?([^.\[\]]+)|\[(\d+)\]|\[['"]([^'"]*)['"]\]""")
MISSING = object()


class BadPath(ValueError):
    pass


def steps(path: str) -> list[str | int]:
    """The steps of `path`; BadPath when it is not one."""
    text = path.strip()
    if text.startswith("$"):
        text = text[1:]
    found: list[str | int] = []
    position = 0
    while position < len(text):
        match = _STEP.match(text, position)
        if match is None or match.end() == position:
            raise BadPath(f"cannot read the path {path!r} at character {position + 1}")
        name, index, quoted = match.groups()
        if index is not None:
            found.append(int(index))
        elif quoted is not None:
            found.append(quoted)
        else:
            found.append(int(name) if name.isdigit() else name)
        position = match.end()
    return found


def lookup(document: Any, path: str) -> Any:
    """The value at `path` in `document`, or MISSING."""
    value = document
    for step in steps(path):
        if isinstance(value, dict):
            key = step if isinstance(step, str) else str(step)
            if key not in value:
                return MISSING
            value = value[key]
        elif isinstance(value, list) and isinstance(step, int):
            if step >= len(value):
                return MISSING
            value = value[step]
        else:
            return MISSING
    return value
