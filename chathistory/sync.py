"""The sync engine: copies new source rows into the hub, batch by batch.

Guarantees (docs/chat-history.md explains them for operators):

* One sync per source at a time, across processes: a run claims its
  SyncState row with a conditional UPDATE, renews the claim with every batch
  and loses it (the batch rolls back) if another run took it over.
* No row lost: the cursor is the highest id copied, and every id below it
  that was missing when the cursor passed it is kept as a SyncGap and
  re-read on every run until it appears (a transaction that committed late)
  or HUB_SYNC_GAP_GRACE passes (a rollback or a delete).
* None duplicated: messages are upserted on the unique (source, source_id),
  the cursor, gaps and counters change in the same transaction, and a
  report that arrived first through the ingest endpoint is linked, not
  copied a second time.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DataError, IntegrityError, connection, connections, transaction
from django.db.models import F, Q
from django.utils import timezone

from xiaozhi_hub.masking import mask_text

from . import counters, events
from .bulk import Json, upsert
from .events import ChatMessagePayload, SyncDonePayload, SyncProgressPayload
from .models import (
    Agent,
    ChatMessage,
    ChatSession,
    Device,
    RunStatus,
    SkippedRow,
    SyncGap,
    SyncRun,
    SyncState,
    SyncStatus,
)
from .parsing import BadRow, as_text, match_key, parse_content, preview
from .sources.esp32 import Esp32Source, SourceRow, source_configured

logger = logging.getLogger(__name__)

# The columns of a synced message, in the order _References.message_row() gives them.
MESSAGE_COLUMNS = [
    "source", "source_id", "match_key", "origin", "device_id", "session_id", "agent_id",
    "chat_type", "role", "content", "speaker", "tool_name", "tool_arguments", "audio_id",
    "created_at", "stored_at",
]  # fmt: skip
# A source row read again (gap re-check, targeted refresh) overwrites these.
MESSAGE_UPDATE_COLUMNS = [
    "match_key", "device_id", "session_id", "agent_id", "chat_type", "role", "content",
    "speaker", "tool_name", "tool_arguments", "audio_id", "created_at",
]  # fmt: skip
GAPS_PER_QUERY = 500
TITLE_BATCH = 2000


class ClaimLost(RuntimeError):
    """Another run took this source over (this one looked dead): stop without committing."""


@dataclass
class SyncResult:
    status: str  # success, failed, skipped, not_configured
    run_id: int | None = None
    rows_read: int = 0
    rows_written: int = 0
    rows_skipped: int = 0
    cursor: int = 0
    error: str = ""
    duration_ms: int = 0
    exception: BaseException | None = field(default=None, repr=False)

    def done_payload(self, source: str) -> SyncDonePayload:
        return SyncDonePayload(
            source=source,
            run_id=self.run_id,
            status="skipped" if self.status == "not_configured" else self.status,
            rows_read=self.rows_read,
            rows_written=self.rows_written,
            error=self.error,
            duration_ms=self.duration_ms,
        )


@dataclass
class Converted:
    row: SourceRow
    parsed: object
    created_at: datetime
    key: str


def claim_token() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def claim(source: str, token: str) -> bool:
    """Atomically mark the source in progress, unless a live run already holds it."""
    SyncState.objects.get_or_create(source=source)
    now = timezone.now()
    stale = now - timedelta(seconds=settings.HUB_SYNC_CLAIM_TIMEOUT)
    taken = (
        SyncState.objects.filter(source=source)
        .filter(
            ~Q(status=SyncStatus.IN_PROGRESS) | Q(claimed_at__isnull=True) | Q(claimed_at__lt=stale)
        )
        .update(status=SyncStatus.IN_PROGRESS, claimed_by=token, claimed_at=now)
    )
    return taken == 1


def run_sync(
    *,
    full: bool = False,
    batch_size: int | None = None,
    since: datetime | None = None,
    trigger: str = "beat",
    device: str | None = None,
    session_id: str | None = None,
    on_batch: Callable[[SyncProgressPayload], None] | None = None,
) -> SyncResult:
    """One sync run of the esp32 source; never raises (the result says what happened)."""
    source = Esp32Source()
    started = time.monotonic()
    if not source_configured():
        return SyncResult(status="not_configured", error="ESP32_DATABASE_URL is not set")
    token = claim_token()
    with transaction.atomic():  # the claim and its run row: one commit
        if not claim(source.name, token):
            run = None
        else:
            state = SyncState.objects.get(source=source.name)
            run = SyncRun.objects.create(
                source=source.name, trigger=trigger, full=full, cursor_start=state.cursor
            )
    if run is None:
        return _skipped(source.name, trigger, started)
    syncer = _Syncer(source, state, run, token, on_batch)
    result = SyncResult(status=RunStatus.SUCCESS, run_id=run.pk)
    try:
        if full or since is not None:
            syncer.rewind(full=full, since=since)
        syncer.refresh_metadata()
        syncer.recheck_gaps()
        if batch_size is None:
            first = full or syncer.cursor == 0
            batch_size = (
                settings.HUB_SYNC_BACKFILL_BATCH_SIZE if first else settings.HUB_SYNC_BATCH_SIZE
            )
        syncer.copy_new(batch_size)
        if device or session_id:
            syncer.refresh_rows(device=device, session_id=session_id, batch_size=batch_size)
        syncer.refresh_titles()
    except Exception as exc:  # noqa: BLE001 - recorded on the run, then retried by the caller
        result.status = RunStatus.FAILED
        result.error = mask_text(f"{type(exc).__name__}: {exc}")[:2000]
        result.exception = exc
        logger.warning("chat sync run %s failed: %s", run.pk, result.error)
    result.rows_read, result.rows_written = syncer.rows_read, syncer.rows_written
    result.rows_skipped, result.cursor = syncer.rows_skipped, syncer.cursor
    result.duration_ms = int((time.monotonic() - started) * 1000)
    syncer.finish(result)
    return result


def _skipped(source: str, trigger: str, started: float) -> SyncResult:
    state = SyncState.objects.get(source=source)
    reason = (
        f"skipped: a sync of {source!r} is already running "
        f"(claimed by {state.claimed_by} at {state.claimed_at:%Y-%m-%d %H:%M:%S} UTC)"
    )
    now = timezone.now()
    run = SyncRun.objects.create(
        source=source, trigger=trigger, status=RunStatus.SKIPPED, error=reason,
        finished_at=now, cursor_start=state.cursor, cursor_end=state.cursor,
    )  # fmt: skip
    logger.info("chat sync %s", reason)
    result = SyncResult(
        status=RunStatus.SKIPPED, run_id=run.pk, cursor=state.cursor, error=reason,
        duration_ms=int((time.monotonic() - started) * 1000),
    )  # fmt: skip
    events.send_done(result.done_payload(source))
    return result


class _Syncer:
    def __init__(self, source: Esp32Source, state: SyncState, run: SyncRun, token, on_batch):
        self.source, self.state, self.run, self.token = source, state, run, token
        self.on_batch = on_batch
        self.cursor = state.cursor
        self.rows_read = self.rows_written = self.rows_skipped = 0
        self.refs = _References()

    # --- the steps of a run ----------------------------------------------------
    def rewind(self, *, full: bool, since: datetime | None) -> None:
        start = 0 if full else self.cursor
        if since is not None:
            first = self.source.first_id_since(since)
            from_since = (first - 1) if first is not None else self.source.max_id()
            start = from_since if full else max(start, from_since)
        with transaction.atomic():
            SyncGap.objects.filter(source=self.source.name).delete()
            self._renew_claim(cursor=start)
        self.cursor = start

    def copy_new(self, batch_size: int) -> None:
        """Batches of `id > cursor`; the next one is read while this one is written."""
        with _ReadAhead(self) as ahead:
            batch = self._read_after(self.cursor, batch_size)
            while batch[0]:
                rows = batch[0]
                if len(rows) == batch_size:
                    ahead.start(rows[-1].id, batch_size)
                self._commit(rows, advance=True, converted=batch[1:])
                if len(rows) < batch_size:
                    return
                batch = ahead.result()

    def _read_after(self, cursor: int, limit: int) -> tuple[list[SourceRow], list, list]:
        rows = self.source.rows_after(cursor, limit)
        return (rows, *self._convert(rows))

    def refresh_rows(self, *, device: str | None, session_id: str | None, batch_size: int):
        """Re-read one device's or session's rows already copied (picks up edits)."""
        after = 0
        while True:
            rows = self.source.rows_matching(
                mac=device, session_id=session_id, after=after, upto=self.cursor, limit=batch_size
            )
            if not rows:
                return
            self._commit(rows, advance=False)
            after = rows[-1].id

    def recheck_gaps(self) -> None:
        gaps = list(SyncGap.objects.filter(source=self.source.name).order_by("first_id"))
        for start in range(0, len(gaps), GAPS_PER_QUERY):
            chunk = gaps[start : start + GAPS_PER_QUERY]
            rows = self.source.rows_in_ranges((g.first_id, g.last_id) for g in chunk)
            self._commit(rows, advance=False, rechecked=chunk)

    def refresh_metadata(self) -> None:
        """Copy ai_agent and ai_device when they changed (a cheap fingerprint decides)."""
        fingerprint = self.source.fingerprint()
        if self.state.metadata.get("fingerprint") == fingerprint:
            return
        agents = self.source.agents()
        Agent.objects.bulk_create(
            [Agent(agent_id=a.agent_id, name=as_text(a.name)[:255],
                   chat_history_conf=a.chat_history_conf) for a in agents],
            update_conflicts=True, **_conflict_on("agent_id"),
            update_fields=["name", "chat_history_conf"],
        )  # fmt: skip
        agent_ids = dict(Agent.objects.values_list("agent_id", "id"))
        Device.objects.bulk_create(
            [Device(mac=d.mac, alias=as_text(d.alias)[:255], board=as_text(d.board)[:255],
                    firmware=as_text(d.firmware)[:255], agent_id=agent_ids.get(d.agent_id),
                    last_connected_at=self.source.aware(d.last_connected_at))
             for d in self.source.devices()],
            update_conflicts=True, **_conflict_on("mac"),
            update_fields=["alias", "board", "firmware", "agent", "last_connected_at"],
        )  # fmt: skip
        self.state.metadata = {**self.state.metadata, "fingerprint": fingerprint}
        SyncState.objects.filter(pk=self.state.pk).update(metadata=self.state.metadata)

    def refresh_titles(self) -> None:
        """Titles are written when a session ends: follow the title table by its timestamps."""
        mark = self.state.metadata.get("titles_since")
        since = datetime.fromisoformat(mark) - timedelta(minutes=5) if mark else None
        rows = self.source.titles_changed_since(since, TITLE_BATCH)
        if not rows:
            return
        ChatSession.objects.bulk_create(
            [ChatSession(session_id=sid, title=as_text(title)[:255]) for sid, title, _ in rows
             if sid],
            update_conflicts=True, **_conflict_on("session_id"), update_fields=["title"],
        )  # fmt: skip
        latest = max(changed for _, _, changed in rows if changed is not None)
        self.state.metadata = {**self.state.metadata, "titles_since": latest.isoformat()}
        SyncState.objects.filter(pk=self.state.pk).update(metadata=self.state.metadata)

    def finish(self, result: SyncResult) -> None:
        now = timezone.now()
        with transaction.atomic():  # one commit for the run and the state
            self._finish_rows(result, now)
        events.send_done(result.done_payload(self.source.name))

    def _finish_rows(self, result: SyncResult, now) -> None:
        SyncRun.objects.filter(pk=self.run.pk).update(
            status=result.status, finished_at=now, cursor_end=self.cursor,
            rows_read=self.rows_read, rows_written=self.rows_written,
            rows_skipped=self.rows_skipped, error=result.error,
        )  # fmt: skip
        changes = dict(
            status=SyncStatus.SUCCESS if result.status == RunStatus.SUCCESS else SyncStatus.FAILED,
            claimed_by="", claimed_at=None, last_run_at=now, runs_total=F("runs_total") + 1,
        )  # fmt: skip
        if result.status == RunStatus.SUCCESS:
            changes.update(last_success_at=now, last_error="")
        else:
            changes.update(last_error=result.error)
        # Only our own claim is released: a run that lost it leaves the new owner alone.
        SyncState.objects.filter(pk=self.state.pk, claimed_by=self.token).update(**changes)

    # --- one batch, one transaction --------------------------------------------
    def _commit(
        self, rows: list[SourceRow], *, advance: bool, rechecked=None, converted=None
    ) -> None:
        good, bad = converted if converted is not None else self._convert(rows)
        new_cursor = rows[-1].id if advance and rows else self.cursor
        try:
            self._commit_batch(rows, good, bad, new_cursor, advance=advance, rechecked=rechecked)
        except BaseException:
            self.refs.clear()  # it may hold ids the rollback just removed
            raise
        self.cursor = new_cursor

    def _commit_batch(self, rows, good, bad, new_cursor, *, advance, rechecked) -> None:
        with transaction.atomic():
            written, payloads, failed = self._write(good)
            bad.extend(failed)
            self._record_bad(bad)
            seen = {row.id for row in rows}
            if advance:
                self._record_gaps(self.cursor, new_cursor, seen)
            if rechecked is not None:
                self._shrink_gaps(rechecked, seen)
            self._renew_claim(
                cursor=new_cursor,
                rows_read_total=F("rows_read_total") + len(rows),
                rows_written_total=F("rows_written_total") + written,
                rows_skipped_total=F("rows_skipped_total") + len(bad),
            )
            self.rows_read += len(rows)
            self.rows_written += written
            self.rows_skipped += len(bad)
            progress = SyncProgressPayload(
                source=self.source.name, run_id=self.run.pk, rows_read=self.rows_read,
                rows_written=self.rows_written, cursor=str(new_cursor),
            )  # fmt: skip
            SyncRun.objects.filter(pk=self.run.pk).update(
                rows_read=self.rows_read, rows_written=self.rows_written,
                rows_skipped=self.rows_skipped, cursor_end=new_cursor,
            )  # fmt: skip
            transaction.on_commit(lambda: self._after_commit(payloads, progress))

    def _after_commit(self, payloads, progress) -> None:
        if payloads:
            events.send_chat_updates(payloads)
        events.send_progress(progress)
        if self.on_batch is not None:
            self.on_batch(progress)

    def _renew_claim(self, **changes) -> None:
        renewed = SyncState.objects.filter(pk=self.state.pk, claimed_by=self.token).update(
            claimed_at=timezone.now(), **changes
        )
        if renewed != 1:
            raise ClaimLost("another sync run took over this source; this run stops")

    def _convert(self, rows: list[SourceRow]) -> tuple[list[Converted], list[tuple]]:
        good, bad = [], []
        for row in rows:
            try:
                raw = as_text(row.content)
                parsed = parse_content(row.chat_type, raw)
                created = self.source.aware(row.created_at)
                if created is None:
                    raise BadRow("created_at and updated_at are both NULL")
                key = match_key(
                    mac=row.mac, session_id=row.session_id, chat_type=int(row.chat_type), raw=raw
                )
                good.append(Converted(row, parsed, created, key))
            except (BadRow, TypeError, ValueError) as exc:
                bad.append((row, str(exc)))
        return good, bad

    def _record_bad(self, bad: list[tuple]) -> None:
        if not bad:
            return
        for row, reason in bad:
            logger.warning("chat sync skipped source row %s: %s", row.id, reason)
        SkippedRow.objects.bulk_create(
            [SkippedRow(source=self.source.name, source_id=row.id, run_id=self.run.pk,
                        reason=reason[:2000], raw=repr(tuple(row))[:2000]) for row, reason in bad],
            ignore_conflicts=True,
        )  # fmt: skip

    def _record_gaps(self, start: int, end: int, seen: set[int]) -> None:
        now = timezone.now()
        SyncGap.objects.bulk_create(
            [SyncGap(source=self.source.name, first_id=first, last_id=last, seen_at=now)
             for first, last in _missing_ranges(start + 1, end, seen)]
        )  # fmt: skip

    def _shrink_gaps(self, rechecked: list[SyncGap], seen: set[int]) -> None:
        """Keep the still-missing parts of each re-read gap, unless its grace is over."""
        expired_before = timezone.now() - timedelta(seconds=settings.HUB_SYNC_GAP_GRACE)
        keep = []
        for gap in rechecked:
            if gap.seen_at < expired_before:
                logger.info("chat sync: ids %s..%s never appeared", gap.first_id, gap.last_id)
                continue
            keep.extend(
                SyncGap(source=gap.source, first_id=first, last_id=last, seen_at=gap.seen_at)
                for first, last in _missing_ranges(gap.first_id, gap.last_id, seen)
            )
        SyncGap.objects.filter(pk__in=[g.pk for g in rechecked]).delete()
        SyncGap.objects.bulk_create(keep)

    # --- writing messages ------------------------------------------------------
    def _write(self, items: list[Converted]) -> tuple[int, list[ChatMessagePayload], list[tuple]]:
        if not items:
            return 0, [], []
        refs = self.refs
        refs.ensure(items)
        existing = self._existing({i.row.id for i in items})
        fresh = [i for i in items if i.row.id not in existing]
        matched = _link_reports(fresh, refs, self.source.name)
        failed = self._upsert([i for i in items if i.row.id not in matched])
        failed_ids = {row.id for row, _ in failed}
        new = [i for i in fresh if i.row.id not in matched and i.row.id not in failed_ids]
        counters.add_session_deltas(refs.session_deltas(new))
        counters.add_device_deltas(refs.device_deltas(new))
        # New and report-linked messages are announced; re-read ones were already.
        announced = [i for i in fresh if i.row.id not in failed_ids]
        return len(items) - len(failed), self._payloads(announced), failed

    def _existing(self, ids: set[int]) -> set[int]:
        """Source ids of this batch already copied: one range scan (an IN list if sparse)."""
        low, high = min(ids), max(ids)
        found = ChatMessage.objects.filter(source=self.source.name)
        if high - low < 4 * len(ids):
            found = found.filter(source_id__gte=low, source_id__lte=high)
        else:
            found = found.filter(source_id__in=ids)
        return set(found.values_list("source_id", flat=True)) & ids

    def _payloads(self, announced: list[Converted]) -> list[ChatMessagePayload]:
        """Payloads of the messages a console is sent (events caps a batch): ids only for those."""
        chosen = events.newest_per_device(
            announced, device=lambda i: i.row.mac, order=lambda i: (i.created_at, i.row.id)
        )
        if not chosen:
            return []
        ids = dict(
            ChatMessage.objects.filter(
                source=self.source.name, source_id__in=[i.row.id for i in chosen]
            ).values_list("source_id", "id")
        )
        return [self.refs.payload(i, ids[i.row.id]) for i in chosen if i.row.id in ids]

    def _upsert(self, items: list[Converted]) -> list[tuple]:
        """Bulk upsert; if one row breaks the bulk statement, find it and skip only it."""
        now = timezone.now()
        rows = [self.refs.message_row(i, self.source.name, now) for i in items]
        try:
            with transaction.atomic():
                _bulk_upsert(rows)
            return []
        except (DataError, IntegrityError):
            pass
        failed = []
        for item, row in zip(items, rows, strict=True):
            try:
                with transaction.atomic():
                    _bulk_upsert([row])
            except (DataError, IntegrityError) as exc:
                failed.append((item.row, f"hub database refused the row: {exc}"))
        return failed


class _ReadAhead:
    """Reads and converts the next source batch in a thread while the current one is written.

    The source query and the hub's INSERTs wait on two database servers; the
    thread overlaps them (the drivers release the GIL while they wait). It has
    its own source connection, closed when the copy ends; its errors surface in
    result(), where a sequential read would have raised them.
    """

    def __init__(self, syncer: _Syncer):
        self.syncer = syncer
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chat-sync-read")
        self.pending: Future | None = None

    def __enter__(self) -> _ReadAhead:
        return self

    def start(self, cursor: int, limit: int) -> None:
        self.pending = self.pool.submit(self.syncer._read_after, cursor, limit)

    def result(self) -> tuple[list[SourceRow], list, list]:
        pending, self.pending = self.pending, None
        return pending.result()

    def __exit__(self, *exc_info) -> None:
        if self.pending is not None:
            self.pending.cancel()
        alias = self.syncer.source.alias
        self.pool.submit(lambda: connections[alias].close()).result()
        self.pool.shutdown()


def _conflict_on(*fields: str) -> dict:
    """bulk_create's unique_fields: required by SQLite, refused by MySQL (any unique key)."""
    return {} if connection.vendor == "mysql" else {"unique_fields": list(fields)}


def _missing_ranges(first: int, last: int, seen: set[int]) -> list[tuple[int, int]]:
    """The runs of ids in [first, last] that are not in `seen`."""
    ranges, expected = [], first
    for source_id in sorted(i for i in seen if first <= i <= last):
        if source_id > expected:
            ranges.append((expected, source_id - 1))
        expected = source_id + 1
    if expected <= last:
        ranges.append((expected, last))
    return ranges


def _bulk_upsert(rows: list[tuple]) -> None:
    upsert(
        ChatMessage._meta.db_table, MESSAGE_COLUMNS, rows, key=["source", "source_id"],
        updates=[f"{column} = NEW({column})" for column in MESSAGE_UPDATE_COLUMNS],
    )  # fmt: skip


def _link_reports(fresh: list[Converted], refs, source: str) -> dict[int, int]:
    """Source rows that arrived first as reports: attach them to the report's message.

    Returns {source_id: message id}. The device rows are locked first (the
    ingest locks the same row), so a report and its source row can never both
    be inserted by two transactions that did not see each other. Candidates
    are the unpaired reports within the batch's time span (one range query).
    """
    keyed = [i for i in fresh if i.row.mac]
    if not keyed:
        return {}
    refs.lock_devices({i.row.mac for i in keyed})
    window = timedelta(seconds=settings.HUB_REPORT_MATCH_WINDOW)
    wanted = {i.key for i in keyed}
    candidates: dict[str, list] = {}
    for pk, key, created in ChatMessage.objects.filter(
        source_id__isnull=True,
        origin=ChatMessage.Origin.REPORT,
        created_at__gte=min(i.created_at for i in keyed) - window,
        created_at__lte=max(i.created_at for i in keyed) + window,
    ).values_list("id", "match_key", "created_at"):
        if key in wanted:
            candidates.setdefault(key, []).append([pk, created])
    if not candidates:
        return {}
    matched: dict[int, int] = {}
    for item in keyed:
        pool = candidates.get(item.key)
        if not pool:
            continue
        best = min(pool, key=lambda c: abs(c[1] - item.created_at))
        if abs(best[1] - item.created_at) > window:
            continue
        pool.remove(best)
        ChatMessage.objects.filter(pk=best[0]).update(
            source=source, source_id=item.row.id, audio_id=item.row.audio_id,
            agent_id=refs.agents.get(item.row.agent_id), created_at=item.created_at,
        )  # fmt: skip
        matched[item.row.id] = best[0]
    return matched


class _References:
    """Agent, device and session ids by natural key, cached for the run; new ones are created.

    Ids never change once a row exists, so the cache only has to forget what a
    rolled-back batch created (clear()).
    """

    def __init__(self):
        self.agents: dict[str, int] = {}
        self.devices: dict[str, int] = {}
        self.sessions: dict[str, int] = {}

    def clear(self) -> None:
        self.agents.clear()
        self.devices.clear()
        self.sessions.clear()

    def ensure(self, items: list[Converted]) -> None:
        now = timezone.now()
        agents = {i.row.agent_id for i in items if i.row.agent_id} - self.agents.keys()
        if agents:
            upsert(Agent._meta.db_table, ["agent_id", "name", "updated_at"],
                   [(a, "", now) for a in sorted(agents)], key=["agent_id"])  # fmt: skip
            self.agents.update(
                Agent.objects.filter(agent_id__in=agents).values_list("agent_id", "id")
            )
        macs = {i.row.mac for i in items if i.row.mac} - self.devices.keys()
        if macs:
            upsert(Device._meta.db_table,
                   ["mac", "alias", "board", "firmware", "last_message", "message_count"],
                   [(m, "", "", "", "", 0) for m in sorted(macs)], key=["mac"])  # fmt: skip
            self.devices.update(Device.objects.filter(mac__in=macs).values_list("mac", "id"))
        owners: dict[str, Converted] = {}
        for item in items:
            sid = item.row.session_id
            if sid and sid not in self.sessions:
                owners.setdefault(sid, item)
        if owners:
            upsert(
                ChatSession._meta.db_table,
                ["session_id", "title", "message_count", "device_id", "agent_id"],
                [(sid, "", 0, self.devices.get(i.row.mac), self.agents.get(i.row.agent_id))
                 for sid, i in sorted(owners.items())],
                key=["session_id"],
            )  # fmt: skip
            self.sessions.update(
                ChatSession.objects.filter(session_id__in=owners).values_list("session_id", "id")
            )

    def lock_devices(self, macs: set[str]) -> None:
        ids = sorted(self.devices[mac] for mac in macs if mac in self.devices)
        list(Device.objects.select_for_update().filter(id__in=ids).order_by("id").values_list("id"))

    def message_row(self, item: Converted, source: str, now: datetime) -> tuple:
        """The values of MESSAGE_COLUMNS."""
        row, parsed = item.row, item.parsed
        arguments = parsed.tool_arguments
        return (
            source, row.id, item.key, ChatMessage.Origin.SYNC.value, self.devices.get(row.mac),
            self.sessions.get(row.session_id), self.agents.get(row.agent_id),
            int(row.chat_type), str(parsed.role), parsed.content, parsed.speaker,
            parsed.tool_name, None if arguments is None else Json(arguments), row.audio_id,
            item.created_at, now,
        )  # fmt: skip

    def payload(self, item: Converted, pk: int) -> ChatMessagePayload:
        row, parsed = item.row, item.parsed
        return ChatMessagePayload(
            id=pk, source_id=row.id, device=row.mac, session_id=row.session_id,
            agent_id=row.agent_id, role=parsed.role, content=parsed.content,
            speaker=parsed.speaker, tool_name=parsed.tool_name,
            tool_arguments=parsed.tool_arguments,
            created_at=item.created_at.isoformat(timespec="milliseconds"),
        )  # fmt: skip

    def session_deltas(self, items: list[Converted]) -> dict[str, counters.Delta]:
        deltas: dict[str, counters.Delta] = {}
        for item in items:
            sid = item.row.session_id
            if sid:
                delta = deltas.setdefault(sid, counters.Delta(
                    device_id=self.devices.get(item.row.mac),
                    agent_id=self.agents.get(item.row.agent_id)))  # fmt: skip
                delta.add(item.created_at, "")
        return deltas

    def device_deltas(self, items: list[Converted]) -> dict[str, counters.Delta]:
        deltas: dict[str, counters.Delta] = {}
        for item in items:
            if item.row.mac:
                deltas.setdefault(item.row.mac, counters.Delta()).add(
                    item.created_at, item.parsed.content
                )
        for delta in deltas.values():  # only the latest text of a device is kept
            delta.last_text = preview(delta.last_text)
        return deltas
