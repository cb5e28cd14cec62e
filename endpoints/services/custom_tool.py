"""Writes of custom tools and platforms, and the call log of custom tools.

Each write ends with `pool_notify_changed()`, so the pool workers offer the
change within a second, without a restart. The REST views, the admin and the
commands audit what they change (xiaozhi_hub/access/audit.py); a `script`
tool runs a command on the worker, so the surfaces that write one require
endpoints.run_commands first (`custom_tool_runs_commands`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F

from endpoints.custom_tool_shape import (
    DEFAULT_TIMEOUT,
    function_disabled_reason,
    handler_timeout,
    unmask_handler,
    unmask_platform_settings,
    validate_handler,
)
from endpoints.models import CustomTool, Endpoint, Platform, ToolCall
from endpoints.models.custom_tool import COMMAND_KINDS
from endpoints.pool_requests.reload import pool_notify_changed
from endpoints.services.fields import set_fields
from endpoints.upstreams.custom.arguments import SchemaProblem, schema_validator
from endpoints.upstreams.custom.config import CustomCallRecord
from endpoints.upstreams.custom.script import script_interpreter
from xiaozhi_hub.masking import mask_text

# The operator's fields of a custom tool, in the order forms show them.
CUSTOM_TOOL_FIELDS = (
    "name",
    "kind",
    "description",
    "input_schema",
    "handler",
    "enabled",
    "timeout",
)
PLATFORM_FIELDS = ("name", "settings")


def custom_tool_runs_commands(*, tool: CustomTool | None, data: dict[str, Any]) -> bool:
    """Whether writing `data` to `tool` (None: a new one) touches a tool that runs a
    command on the worker, before or after the write."""
    if tool is not None and tool.kind in COMMAND_KINDS:
        return True
    handler = data.get("handler")
    handler_kind = handler.get("type") if isinstance(handler, dict) else None
    return data.get("kind") in COMMAND_KINDS or handler_kind in COMMAND_KINDS


def custom_tool_check(tool: CustomTool) -> None:
    """The model's checks, then the handler's shape and the inputSchema (ValidationError)."""
    handler = dict(tool.handler or {}) if isinstance(tool.handler, dict) else tool.handler
    if isinstance(handler, dict):
        if tool.kind and not handler.get("type"):
            handler["type"] = tool.kind
        tool.kind = handler.get("type") or tool.kind
        tool.handler = handler
    errors: dict[str, list[str]] = {}
    try:
        validate_handler(handler)
    except ValueError as exc:
        errors["handler"] = [str(exc)]
    try:
        if isinstance(tool.input_schema, dict) and tool.input_schema:
            schema_validator(tool.input_schema)
    except SchemaProblem as exc:
        errors["input_schema"] = [str(exc)]
    if tool.kind == "script" and isinstance(handler, dict) and "handler" not in errors:
        problem = _interpreter_not_allowed(handler)
        if problem:
            errors["handler"] = [problem]
    if tool.kind == "function":
        tool.enabled = False
        tool.disabled_reason = function_disabled_reason()
    elif tool.disabled_reason == function_disabled_reason():
        tool.disabled_reason = ""
    try:
        tool.full_clean()
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            errors.setdefault(field, []).extend(messages)
    if errors:
        raise ValidationError(errors)


def _interpreter_not_allowed(handler: dict) -> str | None:
    """Why HUB_STDIO_ALLOWED_COMMANDS refuses this script's interpreter, or None: a
    script runs a command on the worker exactly like a stdio server does."""
    allowed = settings.HUB_STDIO_ALLOWED_COMMANDS
    interpreter, _is_file = script_interpreter(handler)
    if not allowed or interpreter in allowed:
        return None
    return (
        f"the interpreter {interpreter!r} is not an allowed command; "
        f"HUB_STDIO_ALLOWED_COMMANDS allows only: {', '.join(allowed)}"
    )


def custom_tool_save(*, tool: CustomTool) -> CustomTool:
    custom_tool_check(tool)
    tool.save()
    pool_notify_changed()
    return tool


def custom_tool_create(**fields: Any) -> CustomTool:
    """A new tool; without a timeout, the handler's own (xiaozhi-client's, in ms) is used."""
    if "timeout" not in fields and isinstance(fields.get("handler"), dict):
        fields["timeout"] = handler_timeout(fields["handler"]) or DEFAULT_TIMEOUT
    tool = CustomTool()
    set_fields(tool, fields, allowed=CUSTOM_TOOL_FIELDS, what="custom tool")
    return custom_tool_save(tool=tool)


def custom_tool_update(*, tool_id: int, data: dict[str, Any]) -> CustomTool:
    """Change a tool; a handler sent back with "***" keeps the stored secrets there."""
    with transaction.atomic():
        tool = CustomTool.objects.select_for_update().get(pk=tool_id)
        data = dict(data)
        if isinstance(data.get("handler"), dict):
            data["handler"] = unmask_handler(data["handler"], tool.handler or {})
            if data["handler"].get("type") != tool.kind and "kind" not in data:
                data["kind"] = data["handler"].get("type")
            new_timeout = handler_timeout(data["handler"])
            if (
                "timeout" not in data
                and new_timeout
                and new_timeout != handler_timeout(tool.handler or {})
            ):
                data["timeout"] = new_timeout  # the handler's timeout changed: follow it
        set_fields(tool, data, allowed=CUSTOM_TOOL_FIELDS, what="custom tool")
        return custom_tool_save(tool=tool)


def custom_tool_delete(*, tool_id: int) -> None:
    CustomTool.objects.get(pk=tool_id).delete()
    pool_notify_changed()


def custom_tool_set_enabled(*, tool_ids: Iterable[int], enabled: bool) -> int:
    """Enable or disable tools; a `function` tool cannot run and stays disabled."""
    tools = CustomTool.objects.filter(pk__in=list(tool_ids)).exclude(enabled=enabled)
    if enabled:
        tools = tools.exclude(kind="function")
    count = tools.update(enabled=enabled)
    if count:
        pool_notify_changed()
    return count


def platform_save(*, platform: Platform) -> Platform:
    platform.full_clean()
    platform.save()
    pool_notify_changed()
    return platform


def platform_create(**fields: Any) -> Platform:
    platform = Platform()
    set_fields(platform, fields, allowed=PLATFORM_FIELDS, what="platform")
    return platform_save(platform=platform)


def platform_update(*, platform_id: int, data: dict[str, Any]) -> Platform:
    """Change a platform; a setting sent back as "***" keeps its stored value."""
    with transaction.atomic():
        platform = Platform.objects.select_for_update().get(pk=platform_id)
        data = dict(data)
        if isinstance(data.get("settings"), dict):
            data["settings"] = unmask_platform_settings(data["settings"], platform.settings)
        set_fields(platform, data, allowed=PLATFORM_FIELDS, what="platform")
        return platform_save(platform=platform)


def platform_delete(*, platform_id: int) -> None:
    Platform.objects.get(pk=platform_id).delete()
    pool_notify_changed()


# --- the call log ---------------------------------------------------------------------------


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def custom_tool_calls_record(
    *, records: list[CustomCallRecord], counted: list[CustomCallRecord] = ()
) -> None:
    """Log `records` (ToolCall rows linked to their custom tool) and count them and
    `counted` (calls past the log's rate: counted, not logged) on their tools."""
    everything = [*records, *counted]
    if not everything:
        return
    limit = settings.HUB_TOOL_LOG_MAX_CHARS
    tools = set(
        CustomTool.objects.filter(pk__in={r.custom_tool_id for r in everything}).values_list(
            "id", flat=True
        )
    )
    endpoints = set(
        Endpoint.objects.filter(pk__in={r.endpoint_id for r in records}).values_list(
            "id", flat=True
        )
    )
    rows = [
        ToolCall(
            at=r.started_at,
            tool=r.tool[:200],
            custom_tool_id=r.custom_tool_id if r.custom_tool_id in tools else None,
            endpoint_id=r.endpoint_id if r.endpoint_id in endpoints else None,
            duration_ms=r.duration_ms,
            outcome=r.outcome,
            error=_clip(mask_text(r.error or ""), limit),
            arguments=_clip(json.dumps(r.arguments, ensure_ascii=False, default=str), limit),
            result=_clip(r.result_text or "", limit),
        )
        for r in records
    ]
    usage: dict[int, dict[str, Any]] = {}
    for r in everything:
        if r.custom_tool_id not in tools:
            continue
        used = usage.setdefault(r.custom_tool_id, {"calls": 0, "last": None, "failure": None})
        used["calls"] += 1
        used["last"] = r.started_at if used["last"] is None else max(used["last"], r.started_at)
        if r.outcome != "ok" and (used["failure"] is None or r.started_at >= used["failure"][0]):
            used["failure"] = (r.started_at, r.error or r.outcome)
    with transaction.atomic():
        ToolCall.objects.bulk_create(rows)
        for tool_id, used in usage.items():
            update: dict[str, Any] = {
                "usage_count": F("usage_count") + used["calls"],
                "last_used_at": used["last"],
            }
            if used["failure"] is not None:
                update["last_error"] = _clip(mask_text(used["failure"][1]), limit)
                update["last_error_at"] = used["failure"][0]
            CustomTool.objects.filter(pk=tool_id).update(**update)
