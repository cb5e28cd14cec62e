"""One sync run of a mysql source: its steps, and the batch loop that copies the rows."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import NamedTuple

from django.conf import settings
from django.db import transaction
from django.db.models import F

from xiaozhi_hub.masking import mask_text
from xiaozhi_hub.transactions import retry_on_lock_conflict

from .. import events
from ..events import ChatMessagePayload, SyncProgressPayload
from ..models import RunStatus, Source, SyncGap
from ..sources.esp32 import Esp32Source, SourceRow, environment_source
from ..sources.registry import SourceNotConfigured, source_configured
from . import runs
from .convert import Converted, Rejected, convert, record_rejected
from .gaps import forget_gaps, open_gaps, record_gaps, shrink_gaps
from .heap import collect_young, collector_paused
from .messages import copied_after, write_messages
from .metadata import refresh_metadata, refresh_titles
from .read_ahead import ReadAhead
from .references import References
from .runs import ClaimedRun, SyncResult

logger = logging.getLogger(__name__)


def run_sync(
    *,
    source: Source | None = None,
    full: bool = False,
    batch_size: int | None = None,
    since: datetime | None = None,
    trigger: str = "beat",
    device: str | None = None,
    session_id: str | None = None,
    on_batch: Callable[[SyncProgressPayload], None] | None = None,
    backfill_mode: bool = True,
) -> SyncResult:
    """One sync run of a mysql `source` (default: the environment's, ESP32_DATABASE_URL);
    never raises (the result says what happened). Its cursor, state, claim and runs are
    the source's own: a run of one source never moves another's.

    `backfill_mode` lets the copy skip, batch by batch, the look-up of rows already in
    the hub when none is ahead of the cursor (_Syncer.copy_new); False: always look.
    """
    row = source if source is not None else environment_source()
    started = time.monotonic()
    if not source_configured(row):
        reason = (
            "ESP32_DATABASE_URL is not set"
            if row.from_environment
            else f"source {row.key!r} has no URL"
        )
        return SyncResult(status="not_configured", error=reason)
    try:
        source = Esp32Source(row)
    except SourceNotConfigured as exc:
        return SyncResult(status="not_configured", error=mask_text(str(exc)))
    run = runs.start(source.name, trigger=trigger, full=full)
    if run is None:
        return runs.skipped(source.name, trigger=trigger, started=started)
    syncer = _Syncer(source, run, on_batch, backfill_mode=backfill_mode)
    result = syncer.result
    try:
        if full or since is not None:
            syncer.rewind(full=full, since=since)
        refresh_metadata(source, run.state)
        syncer.recheck_gaps()
        if batch_size is None:
            backfill = full or result.cursor == 0
            batch_size = (
                settings.HUB_SYNC_BACKFILL_BATCH_SIZE if backfill else settings.HUB_SYNC_BATCH_SIZE
            )
        syncer.copy_new(batch_size)
        if device or session_id:
            syncer.refresh_rows(device=device, session_id=session_id, batch_size=batch_size)
        refresh_titles(source, run.state)
    except Exception as exc:  # noqa: BLE001 - recorded on the run, then retried by the caller
        result.status = RunStatus.FAILED
        result.error = mask_text(f"{type(exc).__name__}: {exc}")[:2000]
        result.exception = exc
        logger.warning("chat sync run %s failed: %s", run.record.pk, result.error)
    result.duration_ms = int((time.monotonic() - started) * 1000)
    runs.finish(run, result)
    return result


class _Batch(NamedTuple):
    rows: list[SourceRow]
    converted: list[Converted]
    rejected: list[Rejected]


class _Syncer:
    """Copies source rows into the hub, one transaction per batch; `result` keeps the count.

    `result.cursor` moves only once a batch has committed.
    """

    def __init__(self, source: Esp32Source, run: ClaimedRun, on_batch, *, backfill_mode: bool):
        self.source, self.run, self.on_batch = source, run, on_batch
        self.backfill_mode = backfill_mode
        self.all_fresh = False  # while True, no row this run copies is in the hub yet
        self.refs = References(source.name)
        self.result = SyncResult(
            status=RunStatus.SUCCESS, run_id=run.record.pk, cursor=run.state.cursor
        )

    # --- the steps of a run ----------------------------------------------------
    def rewind(self, *, full: bool, since: datetime | None) -> None:
        start = 0 if full else self.result.cursor
        if since is not None:
            first = self.source.first_id_since(since)
            from_since = (first - 1) if first is not None else self.source.max_id()
            start = from_since if full else max(start, from_since)
        with transaction.atomic():
            forget_gaps(self.source.name)
            self.run.claim.renew(cursor=start)
        self.result.cursor = start

    def recheck_gaps(self) -> None:
        for chunk in open_gaps(self.source.name):
            rows = self.source.rows_in_ranges((g.first_id, g.last_id) for g in chunk)
            self._commit(self._converted(rows), advance=False, rechecked=chunk)

    def copy_new(self, batch_size: int) -> None:
        """Batches of `id > cursor`; the next one is read while this one is written.

        Backfill mode: if the hub holds no row of the source above the cursor (a first
        backfill, and every tick after a clean one; not a rewind over copied rows), none
        of the batches can already be there: the cursor only moves with a batch's commit,
        one run at a time holds the source, and only the sync gives messages source ids.
        The per-batch look-up of copied rows is skipped.
        """
        with collector_paused(), ReadAhead(self._read_after, self.source.alias) as ahead:
            batch = self._read_after(self.result.cursor, batch_size)
            if batch.rows and self.backfill_mode:
                self.all_fresh = not copied_after(self.source.name, self.result.cursor)
            try:
                while batch.rows:
                    if len(batch.rows) == batch_size:
                        ahead.start(batch.rows[-1].id, batch_size)
                    self._commit(batch, advance=True)
                    if len(batch.rows) < batch_size:
                        return
                    del batch  # its objects are garbage before the collection, not after
                    collect_young()
                    batch = ahead.result()
            finally:
                self.all_fresh = False

    def refresh_rows(self, *, device: str | None, session_id: str | None, batch_size: int):
        """Re-read one device's or session's rows already copied (picks up edits)."""
        after = 0
        while True:
            rows = self.source.rows_matching(
                mac=device,
                session_id=session_id,
                after=after,
                upto=self.result.cursor,
                limit=batch_size,
            )
            if not rows:
                return
            self._commit(self._converted(rows), advance=False)
            after = rows[-1].id

    # --- one batch, one transaction --------------------------------------------
    def _read_after(self, cursor: int, limit: int) -> _Batch:
        return self._converted(self.source.rows_after(cursor, limit))

    def _converted(self, rows: list[SourceRow]) -> _Batch:
        return _Batch(rows, *convert(self.source, rows))

    def _commit(self, batch: _Batch, *, advance: bool, rechecked: list[SyncGap] | None = None):
        """Write the batch; `advance` moves the cursor past it, `rechecked` gaps shrink.

        A batch that loses a lock conflict (with a report's transaction) is written again.
        """
        result = self.result
        cursor = batch.rows[-1].id if advance and batch.rows else result.cursor
        counts = (result.rows_read, result.rows_written, result.rows_skipped)

        def write() -> None:
            with transaction.atomic():
                self._write(batch, cursor, advance=advance, rechecked=rechecked)

        def forget() -> None:
            """Undo in memory what a rolled-back attempt did."""
            self.refs.clear()  # it may hold ids the rollback just removed
            result.rows_read, result.rows_written, result.rows_skipped = counts

        try:
            retry_on_lock_conflict(write, before_retry=forget, name="chat sync batch")
        except BaseException:
            forget()
            raise
        result.cursor = cursor

    def _write(self, batch: _Batch, cursor: int, *, advance: bool, rechecked) -> None:
        name = self.source.name
        written = write_messages(
            batch.converted, self.refs, name, all_fresh=self.all_fresh and advance
        )
        rejected = batch.rejected + written.rejected
        if rejected:
            record_rejected(name, self.run.record.pk, rejected)
        seen = {row.id for row in batch.rows}
        if advance:
            record_gaps(name, self.result.cursor, cursor, seen)
        if rechecked is not None:
            shrink_gaps(rechecked, seen)
        self.run.claim.renew(
            cursor=cursor,
            rows_read_total=F("rows_read_total") + len(batch.rows),
            rows_written_total=F("rows_written_total") + written.count,
            rows_skipped_total=F("rows_skipped_total") + len(rejected),
        )
        result = self.result
        result.rows_read += len(batch.rows)
        result.rows_written += written.count
        result.rows_skipped += len(rejected)
        runs.record_progress(self.run, result, cursor)
        progress = SyncProgressPayload(
            source=name,
            run_id=self.run.record.pk,
            rows_read=result.rows_read,
            rows_written=result.rows_written,
            cursor=str(cursor),
        )
        transaction.on_commit(lambda: self._announce(written.payloads, progress))

    def _announce(self, payloads: list[ChatMessagePayload], progress: SyncProgressPayload):
        if payloads:
            events.send_chat_updates(payloads)
        events.send_progress(progress)
        if self.on_batch is not None:
            self.on_batch(progress)
