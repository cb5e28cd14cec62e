"""Retention policies: writes (`retention_policy_*`, validated by the model's full_clean)
and reads (`retention_policy_dict`, `retention_run_dict`) for REST, admin and commands."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from ..models import RetentionPolicy, RetentionRun
from .redaction import validate_patterns

# The fields a client sets (REST `custom_patterns` is the model's redact_patterns, a list).
POLICY_FIELDS = (
    "scope",
    "source",
    "agent",
    "device",
    "keep_messages_days",
    "keep_audio_days",
    "redact_phone",
    "redact_id_number",
    "redact_email",
    "redact_bank_card",
    "redact_patterns",
    "enabled",
)
AUDIT_FIELDS = tuple(f if f not in ("agent", "device") else f"{f}_id" for f in POLICY_FIELDS)


def _set(policy: RetentionPolicy, data: dict[str, Any]) -> None:
    for name, value in data.items():
        if name not in POLICY_FIELDS:
            raise ValueError(f"unknown policy field {name!r}")
        if name == "redact_patterns" and isinstance(value, list | tuple):
            value = "\n".join(value)
        setattr(policy, name, value)


def _validate(policy: RetentionPolicy) -> None:
    """The model's checks and the custom patterns' (one ValidationError with them all)."""
    errors: dict[str, list] = {}
    try:
        policy.full_clean()
    except ValidationError as exc:
        errors = exc.message_dict
    try:
        validate_patterns(policy.pattern_list())
    except ValidationError as exc:
        errors["redact_patterns"] = exc.messages
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def retention_policy_create(*, data: dict[str, Any]) -> RetentionPolicy:
    policy = RetentionPolicy()
    _set(policy, data)
    _validate(policy)
    policy.save()
    return policy


@transaction.atomic
def retention_policy_update(*, policy_id: int, data: dict[str, Any]) -> RetentionPolicy:
    policy = RetentionPolicy.objects.select_for_update().get(pk=policy_id)
    _set(policy, data)
    _validate(policy)
    policy.save()
    return policy


def retention_policy_delete(*, policy_id: int) -> None:
    RetentionPolicy.objects.filter(pk=policy_id).delete()


def retention_policy_queryset():
    return RetentionPolicy.objects.select_related("agent", "device").order_by("id")


def retention_policy_dict(policy: RetentionPolicy) -> dict[str, Any]:
    return {
        "id": policy.pk,
        "scope": policy.scope,
        "source": policy.source,
        "agent": policy.agent_id,
        "agent_id": policy.agent.agent_id if policy.agent_id else None,
        "device": policy.device_id,
        "device_identifier": policy.device.mac if policy.device_id else None,
        "keep_messages_days": policy.keep_messages_days,
        "keep_audio_days": policy.keep_audio_days,
        "redact_phone": policy.redact_phone,
        "redact_id_number": policy.redact_id_number,
        "redact_email": policy.redact_email,
        "redact_bank_card": policy.redact_bank_card,
        "custom_patterns": policy.pattern_list(),
        "enabled": policy.enabled,
        "created_at": policy.created_at.isoformat(),
        "updated_at": policy.updated_at.isoformat(),
    }


def retention_run_queryset():
    return RetentionRun.objects.order_by("-id")


def retention_run_dict(run: RetentionRun) -> dict[str, Any]:
    return {
        "id": run.pk,
        "trigger": run.trigger,
        "user": run.user,
        "action": run.action,
        "scope": run.scope,
        "started_at": run.started_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "messages_deleted": run.messages_deleted,
        "audio_deleted": run.audio_deleted,
        "sessions_deleted": run.sessions_deleted,
        "messages_redacted": run.messages_redacted,
        "error": run.error,
    }
