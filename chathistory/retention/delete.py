"""Deleting a device's whole history on demand (REST, command, admin), with confirmation.

The order makes it stick while syncs run:
1. the device is recorded as deleted (DeletedDevice, committed first): from then on every
   sync batch drops the device's rows created up to that moment (sync/convert.py), so a
   resync never brings them back;
2. its messages (and their audio and files) are deleted in batches (purge.py);
3. its sessions left without messages are deleted, and its counters reset.
A sync batch that read the rows before step 1 and writes them after step 2 is swept by
the next retention pass (apply.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from django.db import transaction
from django.utils import timezone

from xiaozhi_hub.transactions import retry_on_lock_conflict

from ..models import ChatMessage, ChatSession, DeletedDevice, Device, RetentionRun
from .purge import BATCH_SIZE, delete_messages, lock_rows, recount_devices


class ConfirmationMismatch(ValueError):
    """The confirmation does not name the device."""


@dataclass
class DeviceDeletion:
    device: int
    source: str
    mac: str
    messages: int
    audio: int
    sessions: int
    history_before: str
    run: int

    def as_dict(self) -> dict:
        return asdict(self)


def confirmation_matches(device: Device, confirm: object) -> bool:
    """The confirmation is the device's identifier, exactly (any other value is refused)."""
    return isinstance(confirm, str) and confirm == device.mac


def device_history_delete(
    *,
    device: Device,
    confirm: object,
    user: str,
    trigger: str,
    batch_size: int = BATCH_SIZE,
) -> DeviceDeletion:
    if not confirmation_matches(device, confirm):
        raise ConfirmationMismatch(
            "the confirmation must be the device's identifier, exactly as its `mac` shows it"
        )
    now = timezone.now()
    tombstone, created = DeletedDevice.objects.get_or_create(
        source=device.source,
        mac=device.mac,
        defaults={"history_before": now, "deleted_by": user[:150]},
    )
    if not created:
        DeletedDevice.objects.filter(pk=tombstone.pk).update(
            history_before=now, deleted_by=user[:150], deleted_at=now
        )
    run = RetentionRun.objects.create(
        trigger=trigger,
        user=user[:150],
        action="delete-device",
        scope=f"device {device.source}/{device.mac} (#{device.pk})"[:200],
    )
    messages = ChatMessage.objects.filter(device_id=device.pk, created_at__lte=now)
    purged = delete_messages(messages, batch_size=batch_size)
    sessions = retry_on_lock_conflict(
        lambda: _drop_empty_sessions(device.pk), name="retention device sessions"
    )
    DeletedDevice.objects.filter(pk=tombstone.pk).update(messages_deleted=purged.messages)
    run.finished_at = timezone.now()
    run.messages_deleted = purged.messages
    run.audio_deleted = purged.audio
    run.sessions_deleted = sessions
    run.details = {"device": device.pk, "history_before": now.isoformat()}
    run.save()
    return DeviceDeletion(
        device=device.pk,
        source=device.source,
        mac=device.mac,
        messages=purged.messages,
        audio=purged.audio,
        sessions=sessions,
        history_before=now.isoformat(),
        run=run.pk,
    )


def _drop_empty_sessions(device_id: int) -> int:
    """The device's sessions without messages, deleted under the device's lock."""
    with transaction.atomic():
        lock_rows(Device, [device_id])
        empty = ChatSession.objects.filter(device_id=device_id).exclude(
            id__in=ChatMessage.objects.filter(device_id=device_id, session__isnull=False).values(
                "session_id"
            )
        )
        _, deleted = empty.delete()
        recount_devices([device_id], refresh_text=True)
    return deleted.get(ChatSession._meta.label, 0)
