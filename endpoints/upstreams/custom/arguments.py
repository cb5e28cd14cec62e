"""A call's arguments checked against the tool's inputSchema (jsonschema), before it runs."""

from __future__ import annotations

import json

from jsonschema import exceptions as schema_errors
from jsonschema import validators


class SchemaProblem(Exception):
    """The tool's own inputSchema is not a valid JSON Schema (an operator's mistake)."""


_cache: dict[str, object] = {}


def schema_validator(schema: dict):
    """The (cached) validator of `schema`; SchemaProblem when it is no JSON Schema."""
    key = json.dumps(schema, sort_keys=True, default=str)
    validator = _cache.get(key)
    if validator is None:
        cls = validators.validator_for(schema)
        try:
            cls.check_schema(schema)
        except schema_errors.SchemaError as exc:
            raise SchemaProblem(f"the tool's inputSchema is not valid: {exc.message}") from None
        outside = _outside_refs(schema)
        if outside:
            # Never fetched: a schema must not make the hub read other documents.
            raise SchemaProblem(
                f"the tool's inputSchema is not valid: $ref {outside!r} points outside it"
            )
        if len(_cache) > 512:
            _cache.clear()
        validator = _cache[key] = cls(schema)
    return validator


def _outside_refs(node, depth: int = 0) -> str | None:
    """The first `$ref` of `node` that is not a pointer into the schema itself ("#...")."""
    if depth > 100:
        return "(nested too deep)"
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            return ref
        children = node.values()
    elif isinstance(node, list):
        children = node
    else:
        return None
    for child in children:
        found = _outside_refs(child, depth + 1)
        if found is not None:
            return found
    return None


def argument_problem(schema: dict, arguments: dict) -> str | None:
    """Why `arguments` do not fit `schema` (the most relevant error), or None."""
    if not schema:
        return None
    error = schema_errors.best_match(schema_validator(schema).iter_errors(arguments))
    if error is None:
        return None
    where = "/".join(str(step) for step in error.absolute_path)
    return f"{where}: {error.message}" if where else error.message
