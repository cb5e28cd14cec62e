"""The hostile-input corpus (the *.json files here), read and rendered.

Cases are data, so a new hostile input is one more entry, not more code.
Bodies that would be megabytes are written as generator specs, objects with
one `$` key, rendered to JSON text (or bytes) when a test runs:

- {"$nest": n}: n arrays nested in each other; "kind": "object" for n objects
  ({"a": {"a": ... 0 ...}}); "inner": a spec put innermost; "unclosed": true
  leaves them open.
- {"$raw": text}: text as it is (NaN, Infinity, a bad token).
- {"$digits": n}: a number literal of n digits.
- {"$text": [part, ...]}: a JSON string of the parts joined: a string part as it
  is, any other part as its JSON text (JSON inside a string, as chat content holds).
- {"$repeat": text, "times": n}: a string of text repeated.
Anything else is plain JSON, its parts rendered the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent


def load(name: str) -> dict[str, Any]:
    return json.loads((HERE / name).read_text(encoding="utf-8"))


def render(spec: Any) -> str:
    """The JSON text of a corpus value (generator specs expanded)."""
    if isinstance(spec, dict):
        generator = [key for key in spec if key.startswith("$")]
        if generator:
            return _generate(generator[0], spec)
        items = (f"{json.dumps(key)}: {render(value)}" for key, value in spec.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(spec, list):
        return "[" + ", ".join(render(item) for item in spec) + "]"
    return json.dumps(spec)


def _generate(kind: str, spec: dict) -> str:
    if kind == "$nest":
        depth, inner = spec["$nest"], render(spec.get("inner", 0))
        opening, closing = ('{"a": ', "}") if spec.get("kind") == "object" else ("[", "]")
        return opening * depth + inner + ("" if spec.get("unclosed") else closing * depth)
    if kind == "$raw":
        return spec["$raw"]
    if kind == "$digits":
        return "9" * spec["$digits"]
    if kind == "$text":
        parts = (part if isinstance(part, str) else render(part) for part in spec["$text"])
        return json.dumps("".join(parts))
    if kind == "$repeat":
        return json.dumps(spec["$repeat"] * spec["times"])
    raise ValueError(f"unknown corpus generator {kind!r}")


def merged(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """`base` with `overrides` applied; an override {"$omit": true} drops the key."""
    result = dict(base)
    for key, value in overrides.items():
        if value == {"$omit": True}:
            result.pop(key, None)
        else:
            result[key] = value
    return result
