"""The audit trail of changes made outside the admin (REST, console requests), kept
in Django's admin LogEntry so an object's admin History shows them next to the
admin's own entries, and the "Audit log" admin lists them all.

Messages name the surface and what changed, with values; secret values go
through the caller's masks (and every value through `mask_text`), so an entry
never holds a token, a password or an env value. Called by the REST views, the
console session and the MCP-server admin, never by the services the worker uses.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import models

from xiaozhi_hub.masking import mask_text

VIA_REST = "the REST API"
VIA_CONSOLE = "the console"
VIA_ADMIN = "the admin"

MAX_VALUE_CHARS = 300

Masks = Mapping[str, Callable[[Any], Any]]


def shown(value: Any, mask: Callable[[Any], Any] | None = None) -> str:
    """A value as the audit log shows it: masked, JSON-like, cut short."""
    if mask is not None:
        value = mask(value)
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = mask_text(text)
    if isinstance(value, str):
        text = repr(text)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def describe_values(values: Mapping[str, Any], *, masks: Masks | None = None) -> str:
    masks = masks or {}
    return "; ".join(f"{field} {shown(value, masks.get(field))}" for field, value in values.items())


def describe_changes(
    before: Mapping[str, Any], after: Mapping[str, Any], *, masks: Masks | None = None
) -> str:
    """ "field old → new; ..." for the fields of `after` whose value differs from `before`."""
    masks, parts = masks or {}, []
    for field, new in after.items():
        old = before.get(field)
        if old == new:
            continue
        mask = masks.get(field)
        old_text, new_text = shown(old, mask), shown(new, mask)
        if old_text == new_text:  # only a secret value changed: say so, show neither
            parts.append(f"{field} {new_text} (a secret value changed)")
        else:
            parts.append(f"{field} {old_text} → {new_text}")
    return "; ".join(parts)


def field_values(obj: models.Model, fields: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """The raw values of `fields` (copies of JSON values, so later edits do not show)."""
    return {field: _copy(getattr(obj, field)) for field in fields}


def _copy(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str)) if isinstance(value, dict | list) else value


def _record(*, user, content_type, object_id, object_repr: str, flag: int, message: str):
    return LogEntry.objects.create(
        user_id=user.pk,
        content_type=content_type,
        object_id=None if object_id is None else str(object_id),
        object_repr=str(object_repr)[:200],
        action_flag=flag,
        change_message=message,
    )


def _content_type(obj: models.Model) -> ContentType:
    return ContentType.objects.get_for_model(obj, for_concrete_model=False)


def audit_addition(
    *, user, obj: models.Model, via: str, values: Mapping[str, Any], masks: Masks | None = None
) -> LogEntry:
    message = f"Added via {via}: {describe_values(values, masks=masks)}."
    return _record(
        user=user,
        content_type=_content_type(obj),
        object_id=obj.pk,
        object_repr=str(obj),
        flag=ADDITION,
        message=message,
    )


def audit_change(
    *,
    user,
    obj: models.Model,
    via: str,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    masks: Masks | None = None,
) -> LogEntry | None:
    """A change entry listing what differs; None (nothing recorded) when nothing does."""
    changes = describe_changes(before, after, masks=masks)
    if not changes:
        return None
    return _record(
        user=user,
        content_type=_content_type(obj),
        object_id=obj.pk,
        object_repr=str(obj),
        flag=CHANGE,
        message=f"Changed via {via}: {changes}.",
    )


def audit_deletion(*, user, obj: models.Model, via: str) -> LogEntry:
    return _record(
        user=user,
        content_type=_content_type(obj),
        object_id=obj.pk,
        object_repr=str(obj),
        flag=DELETION,
        message=f"Deleted via {via}.",
    )


def audit_action(
    *,
    user,
    model: str,
    object_id: Any = None,
    object_repr: str,
    via: str,
    action: str,
) -> LogEntry:
    """An action that changes no field (a reconnect, a sync started), as a change entry.

    `model` is "app_label.model_name", so callers that do not import the model
    (the console) can name it; `object_id` None: not about one row.
    """
    app_label, model_name = model.split(".")
    content_type = ContentType.objects.get_by_natural_key(app_label, model_name)
    return _record(
        user=user,
        content_type=content_type,
        object_id=object_id,
        object_repr=object_repr,
        flag=CHANGE,
        message=f"{mask_text(action)} via {via}.",
    )
