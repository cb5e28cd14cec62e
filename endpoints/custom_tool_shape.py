"""xiaozhi-client's `customMCP.tools` entries ↔ `CustomTool` rows, and `platforms.<name>`.

A handler is stored exactly as xiaozhi-client writes it (its `type` included),
so an exported config gives back what was imported. This module checks the
shape the way xiaozhi-client does (naming the key that is wrong), derives the
hub's columns from it (kind, timeout in seconds), and knows where a handler
keeps its secrets, to mask them for display and take them back on save.
"""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.utils.translation import gettext

from endpoints.mcp_server_secrets import mask_upstream_url, unmask_urls
from endpoints.models.custom_tool import (
    CUSTOM_TOOL_KINDS,
    CustomTool,
    Platform,
    validate_custom_tool_name,
)
from xiaozhi_hub.masking import MASK

DEFAULT_TIMEOUT = 30.0  # seconds: CustomTool.timeout's default
HTTP_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")
HTTP_AUTH_TYPES = ("bearer", "basic", "api_key")
PROXY_PLATFORMS = ("coze", "openai", "anthropic", "custom")
INTERPRETERS = ("node", "python", "bash")
CHAIN_MODES = ("sequential", "parallel")
CHAIN_ERROR_MODES = ("stop", "continue", "retry")

# Secret-bearing places of each kind: (path to a dict, keys whose values are secret,
# or None for every value of that dict).
_SECRET_PLACES: dict[str, tuple[tuple[tuple[str, ...], tuple[str, ...] | None], ...]] = {
    "http": ((("headers",), None), (("auth",), ("token", "password", "api_key"))),
    "proxy": ((("config",), ("api_key",)), (("config", "headers"), None)),
    "script": ((("env",), None),),
}


def function_disabled_reason() -> str:
    return gettext("a JavaScript function cannot run in the hub")


def _bad(key: str, problem: str) -> ValueError:
    return ValueError(gettext("%(key)s: %(problem)s") % {"key": key, "problem": problem})


def _need_str(obj: dict, key: str, where: str, *, choices: tuple[str, ...] = ()) -> None:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise _bad(f"{where}.{key}", gettext("must be a non-empty string"))
    if choices and value not in choices:
        raise _bad(
            f"{where}.{key}",
            gettext("must be one of %(choices)s") % {"choices": ", ".join(choices)},
        )


def _need_dict(obj: dict, key: str, where: str, *, required: bool = False) -> dict:
    value = obj.get(key)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise _bad(f"{where}.{key}", gettext("must be a JSON object"))
    return value


def _need_number(obj: dict, key: str, where: str) -> None:
    value = obj.get(key)
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, int | float) or value < 0
    ):
        raise _bad(f"{where}.{key}", gettext("must be a number of 0 or more"))


def validate_handler(handler: Any, where: str = "handler") -> str:
    """Check a handler in xiaozhi-client's shape; its kind, or ValueError naming the key."""
    if not isinstance(handler, dict):
        raise _bad(where, gettext("must be a JSON object"))
    kind = handler.get("type")
    if kind not in CUSTOM_TOOL_KINDS:
        raise _bad(
            f"{where}.type",
            gettext("must be one of %(choices)s") % {"choices": ", ".join(CUSTOM_TOOL_KINDS)},
        )
    if kind == "http":
        _need_str(handler, "url", where)
        parts = urlsplit(handler["url"])
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise _bad(f"{where}.url", gettext("must be an http:// or https:// URL"))
        if handler.get("method") is not None:
            _need_str(handler, "method", where, choices=HTTP_METHODS)
        headers = _need_dict(handler, "headers", where)
        if any(not isinstance(v, str) for v in headers.values()):
            raise _bad(f"{where}.headers", gettext("every value must be a string"))
        for key in ("timeout", "retry_count", "retry_delay"):
            _need_number(handler, key, where)
        auth = _need_dict(handler, "auth", where)
        if auth:
            _need_str(auth, "type", f"{where}.auth", choices=HTTP_AUTH_TYPES)
        if handler.get("body_template") is not None and not isinstance(
            handler["body_template"], str
        ):
            raise _bad(f"{where}.body_template", gettext("must be a string"))
        mapping = _need_dict(handler, "response_mapping", where)
        for key, value in mapping.items():
            if not isinstance(value, str):
                raise _bad(f"{where}.response_mapping.{key}", gettext("must be a string"))
    elif kind == "proxy":
        _need_str(handler, "platform", where, choices=PROXY_PLATFORMS)
        config = _need_dict(handler, "config", where, required=True)
        for key in ("timeout", "retry_count", "retry_delay"):
            _need_number(config, key, f"{where}.config")
        if handler["platform"] == "coze" and not (
            config.get("workflow_id") or config.get("bot_id")
        ):
            raise _bad(
                f"{where}.config.workflow_id", gettext("a Coze tool needs workflow_id or bot_id")
            )
        _need_dict(config, "params", f"{where}.config")
        _need_dict(config, "headers", f"{where}.config")
    elif kind == "mcp":
        config = _need_dict(handler, "config", where, required=True)
        _need_str(config, "serviceName", f"{where}.config")
        _need_str(config, "toolName", f"{where}.config")
    elif kind == "chain":
        tools = handler.get("tools")
        if (
            not isinstance(tools, list)
            or not tools
            or not all(isinstance(t, str) and t for t in tools)
        ):
            raise _bad(f"{where}.tools", gettext("must be a non-empty list of tool names"))
        _need_str(handler, "mode", where, choices=CHAIN_MODES)
        _need_str(handler, "error_handling", where, choices=CHAIN_ERROR_MODES)
    elif kind == "script":
        _need_str(handler, "script", where)
        if handler.get("interpreter") is not None:
            _need_str(handler, "interpreter", where, choices=INTERPRETERS)
        _need_number(handler, "timeout", where)
        env = _need_dict(handler, "env", where)
        if any(not isinstance(v, str) for v in env.values()):
            raise _bad(f"{where}.env", gettext("every value must be a string"))
    elif kind == "function":
        _need_str(handler, "module", where)
        _need_str(handler, "function", where)
    return kind


def _timeout_place(handler: dict) -> dict:
    """The dict holding the handler's `timeout` (milliseconds in xiaozhi-client)."""
    if handler.get("type") == "proxy" and isinstance(handler.get("config"), dict):
        return handler["config"]
    return handler


def handler_timeout(handler: dict) -> float | None:
    """The handler's own timeout in seconds, if it has one."""
    value = _timeout_place(handler).get("timeout")
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return max(0.1, value / 1000)
    return None


def custom_tool_fields_from_client(entry: dict) -> dict:
    """CustomTool field values for one xiaozhi-client `customMCP.tools` entry."""
    if not isinstance(entry, dict):
        raise _bad("tool", gettext("must be a JSON object"))
    name = entry.get("name")
    if not isinstance(name, str):
        raise _bad("name", gettext("must be a non-empty string"))
    try:
        validate_custom_tool_name(name)
    except ValidationError as exc:
        raise _bad("name", " ".join(exc.messages)) from None
    description = entry.get("description", "")
    if not isinstance(description, str):
        raise _bad("description", gettext("must be a string"))
    schema = entry.get("inputSchema", {})
    if not isinstance(schema, dict):
        raise _bad("inputSchema", gettext("must be a JSON object"))
    handler = copy.deepcopy(entry.get("handler"))
    kind = validate_handler(handler)
    fields = {
        "name": name,
        "kind": kind,
        "description": description,
        "input_schema": schema,
        "handler": handler,
        "enabled": kind != "function",
        "disabled_reason": function_disabled_reason() if kind == "function" else "",
        "timeout": handler_timeout(handler) or DEFAULT_TIMEOUT,
    }
    return fields


def custom_tool_to_client(tool: CustomTool) -> dict:
    """The xiaozhi-client `customMCP.tools` entry of a tool (secrets included)."""
    handler = copy.deepcopy(tool.handler or {})
    handler["type"] = tool.kind
    # The hub's timeout wins when the operator changed it; an unchanged one
    # leaves the handler as imported.
    if (handler_timeout(handler) or DEFAULT_TIMEOUT) != tool.timeout:
        _timeout_place(handler)["timeout"] = round(tool.timeout * 1000)
    entry: dict = {
        "name": tool.name,
        "description": tool.description,
        "inputSchema": tool.input_schema or {},
        "handler": handler,
    }
    if tool.usage_count or tool.last_used_at:
        entry["stats"] = {"usageCount": tool.usage_count}
        if tool.last_used_at:
            entry["stats"]["lastUsedTime"] = tool.last_used_at.isoformat()
    return entry


def platform_to_client(platform: Platform) -> dict:
    """The xiaozhi-client `platforms.<name>` value (secrets included)."""
    return dict(platform.settings or {})


# --- secrets ------------------------------------------------------------------------------


def _walk(obj: dict, path: tuple[str, ...]) -> dict | None:
    for key in path:
        obj = obj.get(key) if isinstance(obj, dict) else None
    return obj if isinstance(obj, dict) else None


def mask_handler(handler: dict) -> dict:
    """A handler safe to show: tokens, passwords, API keys, header/env values masked."""
    shown = copy.deepcopy(handler or {})
    for path, keys in _SECRET_PLACES.get(shown.get("type"), ()):
        place = _walk(shown, path)
        if place is None:
            continue
        for key in list(place):
            if (keys is None or key in keys) and place[key] not in (None, ""):
                place[key] = MASK
    if isinstance(shown.get("url"), str):
        shown["url"] = mask_upstream_url(shown["url"])
    return shown


def unmask_handler(incoming: dict, stored: dict) -> dict:
    """A handler sent back: a "***" keeps the stored secret at that place."""
    merged = copy.deepcopy(incoming)
    if not isinstance(stored, dict) or merged.get("type") != stored.get("type"):
        return merged
    for path, keys in _SECRET_PLACES.get(merged.get("type"), ()):
        place, old = _walk(merged, path), _walk(stored, path)
        if place is None or old is None:
            continue
        for key, value in place.items():
            if value == MASK and (keys is None or key in keys) and key in old:
                place[key] = old[key]
    if isinstance(merged.get("url"), str) and isinstance(stored.get("url"), str):
        merged["url"] = unmask_urls([merged["url"]], [stored["url"]])[0]
    return merged


PLATFORM_SECRET_KEYS = ("token", "apiKey", "api_key", "secret")


def mask_platform_settings(settings: dict) -> dict:
    return {
        key: MASK if key in PLATFORM_SECRET_KEYS and value not in (None, "") else value
        for key, value in (settings or {}).items()
    }


def unmask_platform_settings(incoming: dict, stored: dict) -> dict:
    return {
        key: (stored or {}).get(key, value) if value == MASK else value
        for key, value in incoming.items()
    }


# How the audit log (xiaozhi_hub/access/audit.py) shows these fields: secrets masked.
CUSTOM_TOOL_AUDIT_MASKS = {"handler": mask_handler}
PLATFORM_AUDIT_MASKS = {"settings": mask_platform_settings}
