"""The tool page's "Try it" form, built from the tool's input schema (JSON Schema).

string, number, integer and boolean properties (and enums of them) get a field of
their kind; anything else (objects, arrays, unions) a JSON box. A schema without
properties gets one JSON box for all the arguments. Optional fields left empty
are left out of the call.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from endpoints.pool.protocol import TOOL_TIMEOUT, TOOL_UNAVAILABLE
from xiaozhi_hub.jsonlimits import JsonInputError, loads_limited

SIMPLE_TYPES = ("string", "number", "integer", "boolean")
ALL_ARGUMENTS = "arguments"  # the one JSON box of a schema without properties
MAX_BYTES = 256 * 1024  # of one JSON box


def json_value(text: str) -> Any:
    """Parsed JSON from the form, or a form error (never echoing the text)."""
    try:
        return loads_limited(text, max_depth=settings.HUB_JSON_MAX_DEPTH, max_bytes=MAX_BYTES)
    except JsonInputError as exc:
        raise forms.ValidationError(
            gettext("not valid JSON: %(problem)s") % {"problem": str(exc)[:200]}, code="json"
        ) from None


class JsonArgumentField(forms.CharField):
    """A JSON value (an object or array argument, or all the arguments at once)."""

    widget = forms.Textarea(attrs={"rows": 4, "cols": 60, "class": "hub-json"})

    def __init__(self, *, kind: str | None = None, **kwargs):
        self.kind = kind  # "object", "array" or None (any JSON)
        super().__init__(**kwargs)

    def to_python(self, value):
        text = super().to_python(value).strip()
        if not text:
            return None
        parsed = json_value(text)
        if self.kind == "object" and not isinstance(parsed, dict):
            raise forms.ValidationError(gettext("must be a JSON object"), code="type")
        if self.kind == "array" and not isinstance(parsed, list):
            raise forms.ValidationError(gettext("must be a JSON array"), code="type")
        return parsed


def _enum_field(values: list, **common) -> forms.Field:
    choices = [(json.dumps(v, ensure_ascii=False), str(v)) for v in values]
    if not common["required"]:
        choices.insert(0, ("", "---------"))
    return forms.TypedChoiceField(choices=choices, coerce=json.loads, empty_value=None, **common)


def _field(schema: dict, *, required: bool, label: str) -> forms.Field:
    kind = schema.get("type")
    common = {
        "required": required,
        "label": label,
        "help_text": str(schema.get("description") or "")[:500],
    }
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return _enum_field(schema["enum"], **common)
    if kind == "string":
        return forms.CharField(strip=False, empty_value=None, **common)
    if kind in ("number", "integer"):
        bounds = {}
        for key, name in (("minimum", "min_value"), ("maximum", "max_value")):
            if isinstance(schema.get(key), int | float) and not isinstance(schema[key], bool):
                bounds[name] = schema[key]
        field_class = forms.IntegerField if kind == "integer" else forms.FloatField
        return field_class(**bounds, **common)
    if kind == "boolean":
        if required:  # a checkbox always says true or false
            return forms.BooleanField(**{**common, "required": False})
        choices = [("", gettext("(not given)")), ("true", "true"), ("false", "false")]
        return forms.TypedChoiceField(
            choices=choices, coerce=lambda v: v == "true", empty_value=None, **common
        )
    return JsonArgumentField(kind=kind if kind in ("object", "array") else None, **common)


class ToolTryForm(forms.Form):
    """Fields `arg-<n>` for the schema's properties (labels: the property names)."""

    def __init__(self, schema: dict | None, *args, **kwargs):
        super().__init__(*args, **kwargs)
        schema = schema if isinstance(schema, dict) else {}
        properties = schema.get("properties")
        required = schema.get("required") if isinstance(schema.get("required"), list) else []
        self.names: dict[str, str] = {}  # form field -> argument name
        if not isinstance(properties, dict) or not properties:
            self.fields[ALL_ARGUMENTS] = JsonArgumentField(
                kind="object",
                required=False,
                label=_("Arguments (JSON object)"),
                help_text=_('The tool\'s arguments as one JSON object, e.g. {"text": "hi"}.'),
            )
            return
        for index, (name, prop) in enumerate(properties.items()):
            field_name = f"arg-{index}"
            self.names[field_name] = str(name)
            self.fields[field_name] = _field(
                prop if isinstance(prop, dict) else {},
                required=name in required,
                label=str(name),
            )

    def arguments(self) -> dict[str, Any]:
        """The call's arguments (after is_valid): empty optional fields left out."""
        if ALL_ARGUMENTS in self.fields:
            return self.cleaned_data.get(ALL_ARGUMENTS) or {}
        return {
            self.names[field]: value
            for field, value in self.cleaned_data.items()
            if value is not None and value != ""
        }


def describe_reply(reply: dict) -> dict[str, Any]:
    """What the page shows of a tool_call() reply: a verdict, a message, the text."""
    error = reply.get("error")
    if reply.get("poolRunning") is False:
        return {
            "ok": False,
            "verdict": gettext("No pool worker ran the call"),
            "message": (error or {}).get("message", ""),
        }
    if isinstance(error, dict):
        code = error.get("code")
        if code == TOOL_TIMEOUT:
            verdict = gettext("The call timed out")
        elif code == TOOL_UNAVAILABLE:
            verdict = gettext("The tool's server is not available")
        else:
            verdict = gettext("The call failed (error %(code)s)") % {"code": code}
        return {"ok": False, "verdict": verdict, "message": error.get("message", "")}
    result = reply.get("result") if isinstance(reply.get("result"), dict) else {}
    texts = [
        item.get("text", "")
        for item in result.get("content") or []
        if isinstance(item, dict) and item.get("type") == "text"
    ]
    is_error = bool(result.get("isError"))
    return {
        "ok": not is_error,
        "verdict": gettext("The tool answered with an error")
        if is_error
        else gettext("The tool answered"),
        "message": "\n".join(texts),
        "result_json": json.dumps(result, ensure_ascii=False, indent=2),
    }
