"""The retention pass (nightly, or `chat_retention apply`): every enabled policy, in batches.

For each enabled policy, on the messages it governs (policy.governed_messages):
- messages older than `keep_messages_days` are deleted (with their audio and its files);
- audio older than `keep_audio_days` is deleted, the text stays;
- with `redact_existing`, stored text is masked as the policy's masks say.
Then the deleted devices' history is swept again: a row a sync had read before the
deletion and wrote after it goes now.

Every pass that deletes or masks is recorded as a RetentionRun (who, what, how many);
a dry run deletes nothing, records nothing, and says what would go.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime
from functools import partial

from django.db import transaction
from django.utils import timezone

from xiaozhi_hub.masking import mask_text
from xiaozhi_hub.transactions import retry_on_lock_conflict

from ..models import (
    ChatAudio,
    ChatMessage,
    DeletedDevice,
    Device,
    RetentionPolicy,
    RetentionRun,
)
from ..search import index as search_index
from .policy import cutoff, governed_messages, rule_of
from .purge import BATCH_SIZE, delete_audio, delete_messages, lock_rows, newest_text

logger = logging.getLogger(__name__)


@dataclass
class PolicyOutcome:
    policy: int
    scope: str
    messages: int = 0
    audio: int = 0
    redacted: int = 0


@dataclass
class ApplyResult:
    dry_run: bool
    run_id: int | None = None
    messages: int = 0
    audio: int = 0
    redacted: int = 0
    policies: list[PolicyOutcome] = field(default_factory=list)
    deleted_devices: int = 0  # rows of deleted devices a sync had slipped back in

    def as_dict(self) -> dict:
        return asdict(self)


def retention_apply(
    *,
    trigger: str,
    user: str = "",
    dry_run: bool = False,
    redact_existing: bool = False,
    batch_size: int = BATCH_SIZE,
    now: datetime | None = None,
) -> ApplyResult:
    now = now or timezone.now()
    result = ApplyResult(dry_run=dry_run)
    run = None
    if not dry_run:
        run = RetentionRun.objects.create(
            trigger=trigger, user=user, action="apply", scope="every enabled policy"
        )
        result.run_id = run.pk
    try:
        for policy in RetentionPolicy.objects.filter(enabled=True).order_by("id"):
            result.policies.append(_apply_policy(policy, now, dry_run, redact_existing, batch_size))
        if not dry_run:
            result.deleted_devices = _sweep_deleted_devices(batch_size)
    except Exception as exc:
        if run is not None:
            _finish(run, result, error=mask_text(f"{type(exc).__name__}: {exc}")[:2000])
        raise
    result.messages = sum(p.messages for p in result.policies) + result.deleted_devices
    result.audio = sum(p.audio for p in result.policies)
    result.redacted = sum(p.redacted for p in result.policies)
    if run is not None:
        _finish(run, result)
    logger.info(
        "retention %s: %d messages, %d audio deleted, %d messages masked",
        "dry run" if dry_run else "pass",
        result.messages,
        result.audio,
        result.redacted,
    )
    return result


def _finish(run: RetentionRun, result: ApplyResult, *, error: str = "") -> None:
    run.finished_at = timezone.now()
    run.messages_deleted = sum(p.messages for p in result.policies) + result.deleted_devices
    run.audio_deleted = sum(p.audio for p in result.policies)
    run.messages_redacted = sum(p.redacted for p in result.policies)
    acted = [asdict(p) for p in result.policies if p.messages or p.audio or p.redacted]
    run.details = {"policies": acted, "deleted_devices": result.deleted_devices}
    run.error = error
    run.save()


def _apply_policy(
    policy: RetentionPolicy, now: datetime, dry_run: bool, redact_existing: bool, batch_size: int
) -> PolicyOutcome:
    outcome = PolicyOutcome(policy=policy.pk, scope=str(policy))
    governed = governed_messages(policy)
    if policy.keep_messages_days:
        old = governed.filter(created_at__lt=cutoff(policy.keep_messages_days, now))
        if dry_run:
            outcome.messages = old.count()
            outcome.audio = ChatAudio.objects.filter(message__in=old.values("id")).count()
        else:
            purged = delete_messages(old, batch_size=batch_size)
            outcome.messages, outcome.audio = purged.messages, purged.audio
    if policy.keep_audio_days:
        old = governed.filter(created_at__lt=cutoff(policy.keep_audio_days, now))
        if dry_run and policy.keep_messages_days:  # counted with their messages above
            old = old.filter(created_at__gte=cutoff(policy.keep_messages_days, now))
        audio = ChatAudio.objects.filter(message__in=old.values("id"))
        outcome.audio += audio.count() if dry_run else delete_audio(audio, batch_size=batch_size)
    if redact_existing:
        outcome.redacted = redact_stored(policy, dry_run=dry_run, batch_size=batch_size)
    return outcome


def redact_stored(policy: RetentionPolicy, *, dry_run: bool = False, batch_size: int) -> int:
    """Mask the stored text of the messages `policy` governs; the number of messages changed."""
    redactor = rule_of(policy).redactor
    if redactor is None:
        return 0
    governed = governed_messages(policy)
    changed_total, after = 0, 0
    while True:
        rows = list(
            governed.filter(id__gt=after).order_by("id").values_list("id", "content")[:batch_size]
        )
        if not rows:
            return changed_total
        after = rows[-1][0]
        changed = [(pk, masked) for pk, text in rows if (masked := redactor(text)) != text]
        if changed and not dry_run:
            retry_on_lock_conflict(partial(_write_redacted, changed), name="retention redaction")
        changed_total += len(changed)


def _write_redacted(changed: list[tuple[int, str]]) -> None:
    """One batch of masked texts; the devices' last-message previews follow (devices locked
    first, as the sync does)."""
    with transaction.atomic():
        ids = [pk for pk, _ in changed]
        devices = ChatMessage.objects.filter(id__in=ids, device__isnull=False)
        device_ids = sorted(set(devices.values_list("device_id", flat=True)))
        lock_rows(Device, device_ids)
        messages = [ChatMessage(id=pk, content=text) for pk, text in changed]
        search_index.forget(ids)  # the unmasked text's grams (a phone number's) go
        ChatMessage.objects.bulk_update(messages, ["content"], batch_size=500)
        search_index.reindex(ids)
        for pk in device_ids:  # the newest text (one index dive each) as the preview
            Device.objects.filter(pk=pk).update(last_message=newest_text(pk))


def _sweep_deleted_devices(batch_size: int) -> int:
    deleted = 0
    for tombstone in DeletedDevice.objects.order_by("id"):
        messages = ChatMessage.objects.filter(
            device__source=tombstone.source,
            device__mac=tombstone.mac,
            created_at__lte=tombstone.history_before,
        )
        deleted += delete_messages(messages, batch_size=batch_size).messages
    return deleted
