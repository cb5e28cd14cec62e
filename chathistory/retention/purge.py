"""Deleting messages in batches while syncs and reports write, and keeping counters right.

Each batch is one short transaction (retried on a lock conflict), in the lock order the
sync and the report ingest use (docs/chat-history.md): the batch's device rows by primary
key, then its sessions, then the messages themselves (a locking read: exactly the rows
still there), then the counters. A batch moves `message_count` by exactly the rows it
deleted and reads first/last times again through the indexes (cheap however many sessions
it touches). When a whole deletion is done, the touched devices and sessions are
recounted from their messages, a chunk a transaction under their locks: the connection
reads committed rows (Django's MySQL default), so a concurrent sync's delta is either
counted or comes after, never both or neither. Sessions and devices are kept, with zero
counts: a sync run caches their ids, and a row it still holds must not vanish under it.

Files of deleted rows (the audio's FileField) are deleted from their storage once the
batch has committed.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial

from django.db import models, transaction
from django.db.models import Case, Count, F, Max, Min, OuterRef, QuerySet, Subquery, When

from xiaozhi_hub.transactions import retry_on_lock_conflict

from ..models import ChatAudio, ChatMessage, ChatSession, Device
from ..parsing import preview

logger = logging.getLogger(__name__)

BATCH_SIZE = 1000


@dataclass
class Purged:
    messages: int = 0
    audio: int = 0
    devices: set[int] = field(default_factory=set)
    sessions: set[int] = field(default_factory=set)

    def add(self, other: Purged) -> None:
        self.messages += other.messages
        self.audio += other.audio
        self.devices |= other.devices
        self.sessions |= other.sessions


def delete_messages(messages: QuerySet[ChatMessage], *, batch_size: int = BATCH_SIZE) -> Purged:
    """Delete every message of `messages`, `batch_size` rows a transaction, oldest first;
    then recount the devices and sessions it touched.

    The query is run again for each batch: rows deleted are gone from it, and rows a sync
    adds meanwhile are taken if (and only if) they match.
    """
    total = Purged()
    while True:
        ids = list(messages.order_by("created_at", "id").values_list("id", flat=True)[:batch_size])
        if not ids:
            break
        total.add(retry_on_lock_conflict(partial(_delete_batch, ids), name="retention batch"))
    recount(devices=total.devices, sessions=total.sessions)
    return total


def _delete_batch(ids: list[int]) -> Purged:
    """One batch: locks (devices, sessions, then the messages themselves), delete, and the
    counters moved by exactly the rows deleted, first/last times read again (index dives)."""
    with transaction.atomic():
        owners = set(ChatMessage.objects.filter(id__in=ids).values_list("device_id", "session_id"))
        lock_rows(Device, sorted({d for d, _ in owners if d is not None}))
        lock_rows(ChatSession, sorted({s for _, s in owners if s is not None}))
        # A locking read: the rows still there, and nobody else deletes them now.
        rows = list(
            ChatMessage.objects.select_for_update()
            .filter(id__in=ids)
            .order_by("id")
            .values_list("id", "device_id", "session_id")
        )
        ids = [pk for pk, _, _ in rows]
        per_device = Counter(d for _, d, _ in rows if d is not None)
        per_session = Counter(s for _, _, s in rows if s is not None)
        files = _files_of(ChatAudio.objects.filter(message_id__in=ids))
        _, deleted = ChatMessage.objects.filter(id__in=ids).delete()
        _decrement(ChatSession, per_session)
        _decrement(Device, per_device)
        _refresh_session_times(sorted(per_session))
        _refresh_device_last(sorted(per_device))
        transaction.on_commit(lambda: _delete_files(files))
    return Purged(
        deleted.get(ChatMessage._meta.label, 0),
        deleted.get(ChatAudio._meta.label, 0),
        set(per_device),
        set(per_session),
    )


def _decrement(model: type[models.Model], counts: Counter) -> None:
    """message_count minus the rows deleted (one UPDATE per distinct amount; never below 0)."""
    by_amount: dict[int, list[int]] = {}
    for pk, amount in counts.items():
        by_amount.setdefault(amount, []).append(pk)
    for amount, pks in by_amount.items():
        model.objects.filter(id__in=pks).update(
            message_count=Case(
                When(message_count__gt=amount, then=F("message_count") - amount), default=0
            )
        )


def _refresh_session_times(session_ids: list[int]) -> None:
    if not session_ids:
        return
    messages = ChatMessage.objects.filter(session_id=OuterRef("pk"))
    ChatSession.objects.filter(id__in=session_ids).update(
        started_at=Subquery(messages.order_by("created_at", "id").values("created_at")[:1]),
        last_message_at=Subquery(messages.order_by("-created_at", "-id").values("created_at")[:1]),
    )


def _refresh_device_last(device_ids: list[int]) -> None:
    """Last message time read again; the text only where that time moved."""
    if not device_ids:
        return
    devices = Device.objects.filter(id__in=device_ids)
    before = dict(devices.values_list("id", "last_message_at"))
    newest = ChatMessage.objects.filter(device_id=OuterRef("pk")).order_by("-created_at", "-id")
    devices.update(last_message_at=Subquery(newest.values("created_at")[:1]))
    for pk, last_at in devices.values_list("id", "last_message_at"):
        if last_at != before.get(pk):
            text = "" if last_at is None else newest_text(pk)
            Device.objects.filter(pk=pk).update(last_message=text)


def newest_text(device_id: int) -> str:
    latest = (
        ChatMessage.objects.filter(device_id=device_id)
        .order_by("-created_at", "-id")
        .values_list("content", flat=True)
        .first()
    )
    return preview(latest or "")


def recount(*, devices: Iterable[int], sessions: Iterable[int], chunk: int = 200) -> None:
    """Counters recomputed from the messages, `chunk` rows a transaction, each under its
    rows' locks (read committed: a concurrent sync's delta is counted or comes after)."""
    for model, ids, count in (
        (ChatSession, sorted(sessions), recount_sessions),
        (Device, sorted(devices), recount_devices),
    ):
        for start in range(0, len(ids), chunk):
            part = ids[start : start + chunk]
            retry_on_lock_conflict(
                partial(_recount_chunk, model, part, count), name="retention recount"
            )


def _recount_chunk(model, ids: list[int], count) -> None:
    with transaction.atomic():
        lock_rows(model, ids)
        count(ids)


def delete_audio(audio: QuerySet[ChatAudio], *, batch_size: int = BATCH_SIZE) -> int:
    """Delete the audio rows of `audio` (and their files); the messages stay, without an
    audio id (so a play never fetches it from the source again)."""
    total = 0
    while True:
        ids = list(audio.order_by("id").values_list("id", flat=True)[:batch_size])
        if not ids:
            return total
        total += retry_on_lock_conflict(partial(_delete_audio_batch, ids), name="retention audio")


def _delete_audio_batch(ids: list[int]) -> int:
    with transaction.atomic():
        rows = ChatAudio.objects.filter(id__in=ids)
        files = _files_of(rows)
        message_ids = list(rows.values_list("message_id", flat=True))
        deleted, _ = rows.delete()
        ChatMessage.objects.filter(id__in=message_ids).update(audio_id=None)
        transaction.on_commit(lambda: _delete_files(files))
    return deleted


def lock_rows(model: type[models.Model], ids: list[int]) -> None:
    if ids:
        list(model.objects.select_for_update().filter(id__in=ids).order_by("id").values_list("id"))


def recount_sessions(session_ids: Iterable[int]) -> None:
    """Message count, first and last message time of each session, from its messages."""
    session_ids = sorted(session_ids)
    if not session_ids:
        return
    stats = {
        row["session_id"]: row
        for row in ChatMessage.objects.filter(session_id__in=session_ids)
        .values("session_id")
        .annotate(n=Count("id"), first=Min("created_at"), last=Max("created_at"))
        .order_by()
    }
    sessions = list(ChatSession.objects.filter(id__in=session_ids).only("id"))
    for session in sessions:
        row = stats.get(session.pk, {})
        session.message_count = row.get("n", 0)
        session.started_at = row.get("first")
        session.last_message_at = row.get("last")
    ChatSession.objects.bulk_update(
        sessions, ["message_count", "started_at", "last_message_at"], batch_size=500
    )


def recount_devices(device_ids: Iterable[int], *, refresh_text: bool = False) -> None:
    """Message count, last message time and text of each device, from its messages (the
    text is read again when the last message changed, or with `refresh_text`)."""
    device_ids = sorted(device_ids)
    if not device_ids:
        return
    stats = {
        row["device_id"]: row
        for row in ChatMessage.objects.filter(device_id__in=device_ids)
        .values("device_id")
        .annotate(n=Count("id"), last=Max("created_at"))
        .order_by()
    }
    devices = list(Device.objects.filter(id__in=device_ids).only("id", "last_message_at"))
    for device in devices:
        row = stats.get(device.pk, {})
        device.message_count = row.get("n", 0)
        last_at = row.get("last")
        if last_at is None:
            device.last_message = ""
        elif refresh_text or last_at != device.last_message_at:
            device.last_message = newest_text(device.pk)
        device.last_message_at = last_at
    Device.objects.bulk_update(
        devices, ["message_count", "last_message_at", "last_message"], batch_size=500
    )


def _files_of(rows: QuerySet) -> list[tuple]:
    """(storage, name) of every file the rows hold (FileFields found on the model)."""
    found = []
    for file_field in rows.model._meta.concrete_fields:
        if isinstance(file_field, models.FileField):
            names = rows.exclude(**{file_field.name: ""}).values_list(file_field.name, flat=True)
            found += [(file_field.storage, name) for name in names if name]
    return found


def _delete_files(files: list[tuple]) -> None:
    for storage, name in files:
        try:
            storage.delete(name)
        except OSError as exc:  # the row is gone: a file left behind is only logged
            logger.warning("retention: could not delete the file %s: %s", name, exc)
