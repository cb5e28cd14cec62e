"""A raw `tools/call` answer turned into the result the pool sends, without a model round trip.

The lean path (lines.py) hands over the upstream's response as parsed JSON.
The usual answer of a xiaozhi tool (text content, an optional `isError`) is
checked by hand and wrapped in a `PassthroughResult`: a `CallToolResult`
built without validation whose JSON dump is the upstream's own result, so the
pool forwards it without dumping every field again. Anything else (images,
resources, odd shapes) is validated by the SDK's model as before, and what
fails validation is a `MalformedAnswer`. A JSON-RPC error answer becomes the
SDK's `MCPError`, as the SDK path raises it. Structured content is checked
against the tool's declared output schema, as the SDK's session does, with a
validator compiled once per listing (`OutputSchemas`).
"""

from __future__ import annotations

from typing import Any

from jsonschema import exceptions as schema_errors
from jsonschema.validators import validator_for
from mcp import types
from mcp.shared.exceptions import MCPError
from pydantic import PrivateAttr, ValidationError
from referencing import Registry
from referencing.exceptions import Unresolvable


class MalformedAnswer(Exception):
    """The upstream answered with something that is not a valid MCP result."""


class PassthroughResult(types.CallToolResult):
    """A CallToolResult whose JSON dump (by alias) is the upstream's result as it came."""

    _wire: dict[str, Any] = PrivateAttr(default_factory=dict)

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        plain = not any(kwargs.get(k) for k in ("include", "exclude", "exclude_unset"))
        if kwargs.get("mode") == "json" and kwargs.get("by_alias") and plain:
            return dict(self._wire)  # top-level nulls were dropped when it was built
        return super().model_dump(**kwargs)


class OutputSchemas:
    """The output schemas a listing declared, compiled once (the SDK's check, kept)."""

    def __init__(self, schemas: dict[str, dict[str, Any]] | None = None) -> None:
        self._validators: dict[str, Any] = {}
        self.invalid: frozenset[str] = frozenset()  # left to the SDK path, which reports them
        invalid = set()
        for name, schema in (schemas or {}).items():
            try:
                cls = validator_for(schema)
                cls.check_schema(schema)
                # An empty registry: a $ref never fetches anything from the network.
                self._validators[name] = cls(schema, registry=Registry())
            except (schema_errors.SchemaError, TypeError, ValueError):
                invalid.add(name)
        self.invalid = frozenset(invalid)

    def check(self, name: str, result: types.CallToolResult, label: str) -> None:
        """MalformedAnswer when a successful result does not match the tool's output schema."""
        validator = self._validators.get(name)
        if validator is None or result.is_error:
            return
        structured = result.structured_content
        if structured is None:
            reason = "the tool has an output schema but returned no structured content"
        else:
            try:
                if validator.is_valid(structured):  # the usual case; best_match costs more
                    return
                error = schema_errors.best_match(validator.iter_errors(structured))
            except Unresolvable as exc:
                error = exc
            reason = f"invalid structured content: {getattr(error, 'message', error)}"
        raise MalformedAnswer(f"malformed answer from upstream ({label}): {reason}")


def call_result(answer: dict, label: str) -> types.CallToolResult:
    """The result of a raw JSON-RPC response to tools/call; MCPError for an error answer."""
    if "result" not in answer:
        error = answer.get("error")
        if (
            type(error) is dict
            and type(error.get("code")) is int
            and type(error.get("message")) is str
        ):
            raise MCPError(error["code"], error["message"], error.get("data"))
        raise MalformedAnswer(f"malformed answer from upstream ({label}): no result or error")
    result = answer["result"]
    lean = _text_result(result)
    if lean is not None:
        return lean
    try:
        return types.CallToolResult.model_validate(result)
    except ValidationError as exc:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()))
        reason = f"{where}: {first.get('msg', 'invalid')}" if where else str(first.get("msg"))
        raise MalformedAnswer(f"malformed answer from upstream ({label}): {reason}") from exc


def _text_result(result: Any) -> PassthroughResult | None:
    """The fast path: text-only content, well-typed optional fields; else None."""
    if type(result) is not dict:
        return None
    content = result.get("content")
    if type(content) is not list:
        return None
    items = []
    for item in content:
        if type(item) is not dict or item.get("type") != "text":
            return None
        text = item.get("text")
        if type(text) is not str:
            return None
        items.append(types.TextContent.model_construct(type="text", text=text))
    is_error = result.get("isError")
    structured = result.get("structuredContent")
    meta = result.get("_meta")
    if (
        (is_error is not None and type(is_error) is not bool)
        or (structured is not None and type(structured) is not dict)
        or (meta is not None and type(meta) is not dict)
    ):
        return None
    model = PassthroughResult.model_construct(
        content=items, is_error=bool(is_error), structured_content=structured
    )
    model._wire = {key: value for key, value in result.items() if value is not None}
    return model
