"""Reads of the chat-history hub (the console, the REST API and the commands use these)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from django.core.cache import cache
from django.db.models import Count, F, Max, Min, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Substr
from django.utils import timezone

from .audio.policy import playable_audio_expression
from .devices import InvalidDeviceId, device_key
from .events import ChatMessagePayload, message_payload
from .models import (
    DEFAULT_SOURCE,
    ChatMessage,
    ChatSession,
    Device,
    Role,
    RunStatus,
    Source,
    SyncGap,
    SyncRun,
    SyncState,
    SyncStatus,
)
from .sources.esp32 import source_configured
from .sources.registry import source_configured as registry_configured


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="milliseconds") if value else None


class AmbiguousDevice(Device.MultipleObjectsReturned):
    """An identifier that names devices of several sources: the caller must name one."""

    def __init__(self, mac: str, sources: list[str]):
        self.mac, self.sources = mac, sources
        super().__init__(
            f"device {mac!r} exists in several sources ({', '.join(sources)}): "
            "name one with source=<key>"
        )


def device_get(
    *, pk: int | None = None, mac: str | None = None, source: str | None = None
) -> Device:
    """The device with this primary key, or with this identifier however a MAC is spelled
    (chathistory/devices.py) in `source`; Device.DoesNotExist otherwise.

    A device is (source, identifier). Without `source`, the identifier must name a device
    of exactly one source (AmbiguousDevice if several hold it): a hub with one source
    never needs to name it.
    """
    devices = Device.objects.select_related("agent")
    if pk is not None:
        devices = devices.filter(pk=pk)
        if source:
            devices = devices.filter(source=source)
        return devices.get()
    try:
        key = device_key(mac)
    except InvalidDeviceId:
        raise Device.DoesNotExist(f"no device is named {mac!r}") from None
    devices = devices.filter(mac=key)
    if source:
        try:
            return devices.get(source=source)
        except Device.DoesNotExist:
            raise Device.DoesNotExist(f"no device {mac!r} in source {source!r}") from None
    found = list(devices.order_by("source")[:10])
    if not found:
        raise Device.DoesNotExist(f"no device is named {mac!r}")
    if len(found) > 1:
        raise AmbiguousDevice(key, [d.source for d in found])
    return found[0]


def source_exists(*, key: str) -> bool:
    return Source.objects.filter(key=key).exists() or SyncState.objects.filter(source=key).exists()


def _state_payload(state: SyncState | None, key: str) -> dict:
    now = timezone.now()
    last_success = state.last_success_at if state else None
    return {
        "source": key,
        "status": state.status if state else SyncStatus.NEVER,
        "running": bool(state and state.status == SyncStatus.IN_PROGRESS),
        "last_run_at": _iso(state.last_run_at) if state else None,
        "last_success_at": _iso(last_success),
        "last_error": state.last_error if state else "",
        "lag_seconds": round((now - last_success).total_seconds(), 1) if last_success else None,
        "cursor": state.cursor if state else 0,
        "totals": {
            "rows_read": state.rows_read_total if state else 0,
            "rows_written": state.rows_written_total if state else 0,
            "rows_skipped": state.rows_skipped_total if state else 0,
            "runs": state.runs_total if state else 0,
        },
    }


def source_sync_states() -> list[dict]:
    """One entry per source (and per state of a source since removed): its sync state,
    cursor, last run and error, and whether it is enabled and configured."""
    states = {s.source: s for s in SyncState.objects.all()}
    gaps = dict(SyncGap.objects.values_list("source").annotate(n=Count("id")).order_by())
    entries = []
    for source in Source.objects.order_by("key"):
        entry = _state_payload(states.pop(source.key, None), source.key)
        entry.update(
            name=source.name,
            kind=source.kind,
            enabled=source.enabled,
            configured=registry_configured(source),
            sync_interval=source.sync_interval,
            open_gaps=gaps.get(source.key, 0),
        )
        entries.append(entry)
    for key, state in sorted(states.items()):
        entry = _state_payload(state, key)
        entry.update(
            name="",
            kind="",
            enabled=False,
            configured=False,
            sync_interval=None,
            open_gaps=gaps.get(key, 0),
        )
        entries.append(entry)
    return entries


def sync_status(*, source: str | None = None) -> dict:
    """The sync's state: the environment's source (or `source`) at the top level as before,
    every source under "sources", and the hub's totals (or the source's with `source`)."""
    key = source or DEFAULT_SOURCE
    state = SyncState.objects.filter(source=key).first()
    row = Source.objects.filter(key=key).first()
    configured = (
        registry_configured(row)
        if row is not None
        else (key == DEFAULT_SOURCE and source_configured())
    )
    devices = Device.objects.all()
    sessions = ChatSession.objects.all()
    deviceless = ChatMessage.objects.filter(device__isnull=True)
    if source:
        devices = devices.filter(source=source)
        sessions = sessions.filter(source=source)
        deviceless = deviceless.filter(source=source)
    # No COUNT(*) over the messages (seconds on millions of rows): the per-device
    # counters, plus the few messages without a device (an index range).
    counted = devices.aggregate(n=Sum("message_count"))["n"] or 0
    return {
        **_state_payload(state, key),
        "configured": configured,
        "open_gaps": SyncGap.objects.filter(source=key).count(),
        "devices": devices.count(),
        "sessions": sessions.count(),
        "messages": counted + deviceless.count(),
        "sources": source_sync_states(),
    }


def recent_messages(
    *, device: Device | None, limit: int = 50, source: str | None = None
) -> list[ChatMessagePayload]:
    """The newest `limit` messages (of one device, or of all, or of one source), oldest first."""
    queryset = ChatMessage.objects.all()
    if device is not None:
        queryset = queryset.filter(device=device)
    if source:
        queryset = queryset.filter(source=source)
    newest = list(message_rows(queryset.order_by("-created_at", "-id"))[: max(0, limit)])
    return [message_row_payload(row) for row in reversed(newest)]


def device_payload(device: Device) -> dict:
    return {
        "id": device.pk,
        "source": device.source,
        "mac": device.mac,
        "alias": device.alias,
        "board": device.board,
        "firmware": device.firmware,
        "agent_id": device.agent.agent_id if device.agent_id else None,
        "agent_name": device.agent.name if device.agent_id else None,
        "last_connected_at": _iso(device.last_connected_at),
        "last_message_at": _iso(device.last_message_at),
        "message_count": device.message_count,
        "last_message": device.last_message,
    }


def device_queryset(*, search: str = "", source: str | None = None) -> QuerySet[Device]:
    """Devices (of one `source`); `search`: a part of the identifier, alias, board, or agent
    name or id."""
    queryset = Device.objects.select_related("agent")
    if source:
        queryset = queryset.filter(source=source)
    if search:
        queryset = queryset.filter(
            Q(mac__icontains=search)
            | Q(alias__icontains=search)
            | Q(board__icontains=search)
            | Q(agent__name__icontains=search)
            | Q(agent__agent_id__icontains=search)
        )
    return queryset


def device_list(*, search: str = "", limit: int = 200, source: str | None = None) -> list[dict]:
    devices = device_queryset(search=search, source=source).order_by("-last_message_at", "mac")
    devices = devices[: max(0, limit)]
    return [device_payload(d) for d in devices]


# What a session without a title (the source's ai_agent_chat_title) is shown by: the
# start of its first user message, cut in the database (a message may be long).
FIRST_WORDS_CHARS = 40


def _first_user_message(session_ref) -> Subquery:
    first = (
        ChatMessage.objects.filter(session=session_ref, role=Role.USER)
        .order_by("created_at", "id")  # msg_session_time
        .values(words=Substr("content", 1, FIRST_WORDS_CHARS))[:1]
    )
    return Subquery(first)


def first_words(text: str | None) -> str | None:
    """A message's first words, on one line (None for none)."""
    words = " ".join((text or "").split())
    return words or None


def session_first_words(session_pks) -> dict[int, str | None]:
    """The first words of each session's first user message, by session pk (one query)."""
    rows = ChatSession.objects.filter(pk__in=[pk for pk in session_pks if pk is not None])
    rows = rows.annotate(words=_first_user_message(OuterRef("pk"))).values_list("pk", "words")
    return {pk: first_words(words) for pk, words in rows}


def session_payload(session: ChatSession) -> dict:
    return {
        "id": session.pk,
        "source": session.source,
        "session_id": session.session_id,
        "title": session.title,
        "first_words": first_words(getattr(session, "first_words", None)),
        "started_at": _iso(session.started_at),
        "last_message_at": _iso(session.last_message_at),
        "message_count": session.message_count,
    }


def session_queryset(*, device: Device) -> QuerySet[ChatSession]:
    """A device's sessions, each with the first words of its first user message."""
    return ChatSession.objects.filter(device=device).annotate(
        first_words=_first_user_message(OuterRef("pk"))
    )


def session_list(*, device: Device) -> list[dict]:
    sessions = session_queryset(device=device).order_by("-last_message_at", "-id")
    return [session_payload(s) for s in sessions]


# The 30-second tick makes thousands of runs a day that find nothing new: the run list
# folds each streak of such quiet runs into one entry, and looks at the newest
# SYNC_RUNS_SCAN runs only (a few hours of ticks), so it stays one small query.
QUIET_RUN_STATUSES = (RunStatus.SUCCESS, RunStatus.SKIPPED)
SYNC_RUNS_SCAN = 1000
FOLDED_RUNS_LISTED = 20


def _duration_ms(run: SyncRun) -> int | None:
    if run.finished_at is None:
        return None
    return max(0, round((run.finished_at - run.started_at).total_seconds() * 1000))


def _run_payload(run: SyncRun) -> dict:
    return {
        "id": run.pk,
        "source": run.source,
        "trigger": run.trigger,
        "full": run.full,
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "duration_ms": _duration_ms(run),
        "status": run.status,
        "rows_read": run.rows_read,
        "rows_written": run.rows_written,
        "rows_skipped": run.rows_skipped,
        "error": run.error,
    }


def sync_runs(*, limit: int = 20) -> list[dict]:
    """The newest runs, newest first: at most `limit` entries, each with its duration.

    Consecutive quiet runs (no new rows, not failed) are one entry: the newest of them
    plus `folded` = {"count", "first_started_at", "more" (the streak goes on past the
    runs looked at), "runs": the newest FOLDED_RUNS_LISTED as {id, started_at,
    duration_ms, status, rows_read}}. A lone quiet run is a plain entry.
    """
    entries: list[dict] = []
    streak: dict | None = None
    scanned = 0
    newest = SyncRun.objects.order_by("-started_at", "-id")[:SYNC_RUNS_SCAN]
    for run in newest.iterator(chunk_size=200):
        scanned += 1
        quiet = run.status in QUIET_RUN_STATUSES and run.rows_written == 0
        if quiet and streak is not None:
            folded = streak.setdefault(
                "folded", {"count": 1, "more": False, "runs": [_folded_run(streak)]}
            )
            folded["count"] += 1
            folded["first_started_at"] = _iso(run.started_at)
            if len(folded["runs"]) < FOLDED_RUNS_LISTED:
                folded["runs"].append(_folded_run(_run_payload(run)))
            continue
        if len(entries) >= max(0, limit):
            break
        entries.append(_run_payload(run))
        streak = entries[-1] if quiet else None
    else:
        if streak is not None and "folded" in streak:
            streak["folded"]["more"] = scanned == SYNC_RUNS_SCAN
    return entries


def _folded_run(entry: dict) -> dict:
    keys = ("id", "source", "started_at", "duration_ms", "status", "rows_read")
    return {key: entry[key] for key in keys}


def message_queryset(
    *,
    device: Device | None = None,
    session: ChatSession | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    role: str | None = None,
    session_id: str | None = None,
    search: str = "",
    source: str | None = None,
) -> QuerySet[ChatMessage]:
    """Messages filtered for the REST API and exports (each filter is optional; `source`:
    the key of the Source they were copied from)."""
    queryset = ChatMessage.objects.select_related("device", "session", "agent")
    if source:
        queryset = queryset.filter(source=source)
    if device is not None:
        queryset = queryset.filter(device=device)
    if session is not None:
        queryset = queryset.filter(session=session)
    if session_id:
        queryset = queryset.filter(session__session_id=session_id)
    if since is not None:
        queryset = queryset.filter(created_at__gte=since)
    if until is not None:
        queryset = queryset.filter(created_at__lt=until)
    if role:
        queryset = queryset.filter(role=role)
    if search:
        # The side index narrows the rows LIKE checks (chathistory/search, docs/search.md).
        from .search.query import message_text_filter

        queryset = queryset.filter(message_text_filter(text=search))
    return queryset


# Columns of a message row for the REST lists: plain dicts, no model instances
# (building ~50 instances with three related ones each was most of a page's time).
_MESSAGE_FIELDS = (
    "id",
    "source",
    "source_id",
    "role",
    "content",
    "speaker",
    "tool_name",
    "tool_arguments",
    "created_at",
)
_MESSAGE_RELATED = {
    "device_mac": F("device__mac"),
    "device_pk": F("device_id"),
    "session_key": F("session__session_id"),
    "agent_key": F("agent__agent_id"),
}
# The session's own counters, read in the same query (a join on its primary key).
_MESSAGE_SESSION = {
    "session_pk": F("session_id"),
    "session_title": F("session__title"),
    "session_started_at": F("session__started_at"),
    "session_last_message_at": F("session__last_message_at"),
    "session_message_count": F("session__message_count"),
}


def message_rows(queryset: QuerySet[ChatMessage], *, with_session: bool = False) -> QuerySet:
    """`queryset` as plain dicts for `message_row_payload` (and `sessions_with_messages`)."""
    extra = {**_MESSAGE_RELATED, **(_MESSAGE_SESSION if with_session else {})}
    # Not in _MESSAGE_RELATED: exports need not pay its two EXISTS per row.
    extra["has_audio"] = playable_audio_expression()
    return queryset.values(*_MESSAGE_FIELDS, **extra)


def message_row_payload(row: dict) -> ChatMessagePayload:
    """A `message_rows` dict as the payload consoles, the REST API and exports share."""
    return message_payload(
        id=row["id"],
        source=row["source"],
        source_id=row["source_id"],
        device=row["device_mac"],
        device_pk=row["device_pk"],
        session_id=row["session_key"],
        agent_id=row["agent_key"],
        role=row["role"],
        content=row["content"],
        speaker=row["speaker"],
        tool_name=row["tool_name"],
        tool_arguments=row["tool_arguments"],
        created_at=row["created_at"],
        audio=row.get("has_audio", False),
    )


def sessions_with_messages(rows: list[dict]) -> list[dict]:
    """Rows (from `message_rows(..., with_session=True)`) grouped by session, in row order."""
    words = session_first_words({row["session_pk"] for row in rows})
    sessions: dict[int | None, dict] = {}
    for row in rows:
        pk, key = row["session_pk"], row["session_key"]
        group = sessions.get(pk)
        if group is None:
            group = sessions[pk] = {
                "id": pk,
                "source": row["source"],
                "session_id": key,
                "title": row["session_title"] if key else "",
                "first_words": words.get(pk),
                "started_at": _iso(row["session_started_at"]),
                "last_message_at": _iso(row["session_last_message_at"]),
                "message_count": row["session_message_count"],
                "messages": [],
            }
        group["messages"].append(message_row_payload(row))
    return list(sessions.values())


# What an export adds to each row: names a person reads next to the keys.
_EXPORT_RELATED = {"device_alias": F("device__alias"), "session_title": F("session__title")}


def message_rows_in_batches(
    queryset: QuerySet[ChatMessage], *, batch_size: int = 500
) -> Iterator[list[dict]]:
    """`queryset`'s rows (`message_rows` plus device alias and session title), oldest
    first, one batch per query: keyset pages on (created_at, id), so an export of
    millions of rows never holds more than one batch (MySQL drivers read a whole
    result into memory) and no query runs for long."""
    rows = queryset.order_by("created_at", "id").values(
        *_MESSAGE_FIELDS, **_MESSAGE_RELATED, **_EXPORT_RELATED
    )
    after = None
    while True:
        page = rows
        if after is not None:
            moment, pk = after
            page = rows.filter(Q(created_at__gt=moment) | Q(created_at=moment, id__gt=pk))
        batch = list(page[:batch_size])
        if batch:
            yield batch
        if len(batch) < batch_size:
            return
        after = (batch[-1]["created_at"], batch[-1]["id"])


# Cached statistics are dropped after this long even if the counters did not move
# (a source row edited in place and re-read by a resync keeps the counters as they are).
STATISTICS_CACHE_SECONDS = 300


def device_statistics(*, device: Device) -> dict:
    """Counts by role, sessions and time span of the device's messages.

    The aggregate reads every message row of the device (role is in no index), so it
    is cached under the device's counters: each stored message bumps `message_count`
    and `last_message_at` in the same transaction, so a new message means a new key.
    """
    moment = device.last_message_at.isoformat() if device.last_message_at else "-"
    key = f"chathistory:device-statistics:{device.pk}:{device.message_count}:{moment}"
    statistics = cache.get(key)
    if statistics is None:
        statistics = _device_statistics(device)
        cache.set(key, statistics, STATISTICS_CACHE_SECONDS)
    return statistics


def _device_statistics(device: Device) -> dict:
    # One pass over the device's index range: counts and time span per role.
    per_role = (
        ChatMessage.objects.filter(device=device)
        .values_list("role")
        .annotate(n=Count("id"), first=Min("created_at"), last=Max("created_at"))
        .values_list("role", "n", "first", "last")
        .order_by()
    )
    by_role, firsts, lasts = {}, [], []
    for role, count, first, last in per_role:
        by_role[role] = count
        firsts.append(first)
        lasts.append(last)
    return {
        "messages": sum(by_role.values()),
        "by_role": {role: by_role.get(role, 0) for role in Role.values},
        "sessions": ChatSession.objects.filter(device=device).count(),
        "first_message_at": _iso(min(firsts, default=None)),
        "last_message_at": _iso(max(lasts, default=None)),
    }


def chat_totals() -> dict:
    by_role = dict(ChatMessage.objects.values_list("role").annotate(n=Count("id")))
    return {
        "messages": sum(by_role.values()),
        "by_role": {role: by_role.get(role, 0) for role in Role.values},
        "by_origin": dict(ChatMessage.objects.values_list("origin").annotate(n=Count("id"))),
        "by_source": dict(
            ChatMessage.objects.values_list("source").annotate(n=Count("id")).order_by()
        ),
        "devices": Device.objects.count(),
        "sessions": ChatSession.objects.count(),
        "counted_on_devices": Device.objects.aggregate(n=Sum("message_count"))["n"] or 0,
    }
