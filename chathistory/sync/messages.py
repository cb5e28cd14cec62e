"""Writing one batch's messages: upserted on (source, source_id), counted, announced."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime
from typing import NamedTuple

from django.db import DataError, IntegrityError, transaction
from django.utils import timezone

from .. import counters, events
from ..audio.policy import message_ids_with_audio
from ..bulk import Json, upsert
from ..events import ChatMessagePayload
from ..models import ChatMessage, Role
from ..search import index as search_index
from .convert import Converted, Rejected
from .linking import link_reports
from .references import References


class MessageRow(NamedTuple):
    """One synced message as the upsert writes it: the fields are the table's columns."""

    source: str
    source_id: int
    match_key: str
    origin: str
    device_id: int | None
    session_id: int | None
    agent_id: int | None
    chat_type: int
    role: str
    content: str
    speaker: str | None
    tool_name: str | None
    tool_arguments: Json | None
    audio_id: str | None
    created_at: datetime
    stored_at: datetime


# A source row read again (gap re-check, targeted refresh, full resync) overwrites
# everything but its identity, its origin and when the hub first stored it.
UPDATED_ON_REREAD = [
    column
    for column in MessageRow._fields
    if column not in {"source", "source_id", "origin", "stored_at"}
]


class Written(NamedTuple):
    count: int
    payloads: list[ChatMessagePayload]  # for the consoles, sent once the batch commits
    rejected: list[Rejected]  # rows the hub's database refused


def write_messages(
    items: list[Converted], refs: References, source: str, *, all_fresh: bool = False
) -> Written:
    """Write `items`; `all_fresh`: the caller knows none of them is in the hub yet
    (backfill mode, engine.py), so the look-up of those already copied is skipped."""
    if not items:
        return Written(0, [], [])
    refs.ensure(items)
    existing = set() if all_fresh else _existing(source, {i.row.id for i in items})
    fresh = [i for i in items if i.row.id not in existing]
    edited = _edited(source, [i for i in items if i.row.id in existing])
    search_index.forget(edited)  # the search index's rows of the text they had
    linked = link_reports(fresh, refs, source)
    rejected = _upsert([i for i in items if i.row.id not in linked], refs, source)
    search_index.reindex(edited)
    rejected_ids = {row.id for row, _ in rejected}
    new = [i for i in fresh if i.row.id not in linked and i.row.id not in rejected_ids]
    counters.add_session_deltas(refs.session_deltas(new))
    counters.add_device_deltas(refs.device_deltas(new))
    # New and report-linked messages are announced; re-read ones were already.
    announced = [i for i in fresh if i.row.id not in rejected_ids]
    return Written(len(items) - len(rejected), _payloads(announced, refs, source), rejected)


def _edited(source: str, reread: list[Converted]) -> list[int]:
    """Primary keys of the re-read messages whose text the source changed (one query)."""
    if not reread:
        return []
    texts = {i.row.id: i.parsed.content for i in reread}
    stored = ChatMessage.objects.filter(source=source, source_id__in=texts).values_list(
        "source_id", "id", "content"
    )
    return [pk for source_id, pk, content in stored if texts[source_id] != content]


def copied_after(source: str, cursor: int) -> bool:
    """Whether the hub holds a row of `source` above `cursor` (one probe of its unique key)."""
    return ChatMessage.objects.filter(source=source, source_id__gt=cursor).exists()


def _existing(source: str, ids: set[int]) -> set[int]:
    """Source ids of this batch already copied: one range scan (an IN list if sparse)."""
    low, high = min(ids), max(ids)
    found = ChatMessage.objects.filter(source=source)
    if high - low < 4 * len(ids):
        found = found.filter(source_id__gte=low, source_id__lte=high)
    else:
        found = found.filter(source_id__in=ids)
    return set(found.values_list("source_id", flat=True)) & ids


def _upsert(items: list[Converted], refs: References, source: str) -> list[Rejected]:
    """Bulk upsert; if one row breaks the bulk statement, find it and skip only it."""
    now = timezone.now()
    try:
        with transaction.atomic():
            _bulk_upsert(_message_rows(items, refs, source, now))
        return []
    except (DataError, IntegrityError):
        pass
    rejected = []
    for item in items:
        try:
            with transaction.atomic():
                _bulk_upsert(_message_rows([item], refs, source, now))
        except (DataError, IntegrityError) as exc:
            rejected.append((item.row, f"hub database refused the row: {exc}"))
    return rejected


def _bulk_upsert(rows: Iterator[MessageRow]) -> None:
    updates = [f"{column} = NEW({column})" for column in UPDATED_ON_REREAD]
    table = ChatMessage._meta.db_table
    upsert(table, MessageRow._fields, rows, key=["source", "source_id"], updates=updates)


# The plain strings of the choices (a TextChoices member would take the literal's slow path).
_ROLE_TEXT = {role: role.value for role in Role}
_SYNC = ChatMessage.Origin.SYNC.value


def _message_rows(
    items: list[Converted], refs: References, source: str, now: datetime
) -> Iterator[MessageRow]:
    """The rows, built as the upsert renders them (it overlaps them with the server's work).

    The per-row hot path of a backfill: plain lookups in the run's caches, no method calls.
    """
    devices, agents, sessions = refs.devices, refs.agents, refs.sessions
    for item in items:
        row, parsed = item.row, item.parsed
        arguments = parsed.tool_arguments
        yield MessageRow(
            source,
            row.id,
            item.key,
            _SYNC,
            devices.get(row.mac),
            sessions.get((row.mac, row.session_id)) if row.session_id else None,
            agents.get(row.agent_id),
            int(row.chat_type),
            _ROLE_TEXT[parsed.role],
            parsed.content,
            parsed.speaker,
            parsed.tool_name,
            # NULL, not the JSON literal null, when a tool row has no arguments.
            None if arguments is None else Json(arguments),
            row.audio_id,
            item.created_at,
            now,
        )


def _payloads(
    announced: list[Converted], refs: References, source: str
) -> list[ChatMessagePayload]:
    """Payloads of the messages a console is sent (events caps a batch): ids only for those."""
    chosen = events.newest_per_device(
        announced, device=lambda i: i.row.mac, order=lambda i: (i.created_at, i.row.id)
    )
    if not chosen:
        return []
    ids = dict(
        ChatMessage.objects.filter(
            source=source, source_id__in=[i.row.id for i in chosen]
        ).values_list("source_id", "id")
    )
    with_audio = message_ids_with_audio(message_ids=ids.values())
    return [
        events.message_payload(
            id=ids[i.row.id],
            source=source,
            source_id=i.row.id,
            device=i.row.mac,
            device_pk=refs.devices.get(i.row.mac),
            session_id=i.row.session_id,
            agent_id=i.row.agent_id,
            created_at=i.created_at,
            audio=ids[i.row.id] in with_audio,
            **asdict(i.parsed),
        )
        for i in chosen
        if i.row.id in ids
    ]
