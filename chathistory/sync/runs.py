"""A run's bookkeeping: its SyncRun row, the state it leaves, and the `sync:done` event."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .. import events, metrics
from ..events import SyncDonePayload
from ..history_services import sync_run_record
from ..models import RunStatus, SyncRun, SyncState, SyncStatus
from .claim import Claim, claim, claim_token

logger = logging.getLogger(__name__)


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
class ClaimedRun:
    """A run that holds its source: the rows it keeps up to date and the claim it renews."""

    source: str
    state: SyncState
    record: SyncRun
    claim: Claim


def start(source: str, *, trigger: str, full: bool) -> ClaimedRun | None:
    """Claim the source and record the run in one commit; None if a live run holds it.

    A run still `in_progress` at that moment can only be one whose claim this run just
    took over (its worker died: SIGKILL, OOM, a lost host): it is closed as abandoned.
    """
    token = claim_token()
    with transaction.atomic():
        if not claim(source, token):
            return None
        state = SyncState.objects.get(source=source)
        record = SyncRun.objects.create(
            source=source, trigger=trigger, full=full, cursor_start=state.cursor
        )
        abandoned = _abandon_dead_runs(source, successor=record)
    for dead in abandoned:
        events.send_done(dead)
    return ClaimedRun(source, state, record, Claim(state.pk, token))


def _abandon_dead_runs(source: str, *, successor: SyncRun) -> list[SyncDonePayload]:
    """Close the source's other in-progress runs; their `sync:done` payloads, to send."""
    dead = list(
        SyncRun.objects.filter(source=source, status=RunStatus.IN_PROGRESS)
        .exclude(pk=successor.pk)
        .values_list("pk", "rows_read", "rows_written")
    )
    if not dead:
        return []
    reason = (
        f"abandoned: its worker stopped renewing the claim (no heartbeat for "
        f"{settings.HUB_SYNC_CLAIM_TIMEOUT} s); run {successor.pk} took the source over"
    )
    SyncRun.objects.filter(pk__in=[pk for pk, _, _ in dead]).update(
        status=RunStatus.ABANDONED, finished_at=timezone.now(), error=reason
    )
    logger.warning("chat sync runs %s %s", ", ".join(str(pk) for pk, _, _ in dead), reason)
    return [
        SyncDonePayload(
            source=source,
            run_id=pk,
            status=RunStatus.ABANDONED,
            rows_read=rows_read,
            rows_written=rows_written,
            error=reason,
            duration_ms=0,
        )
        for pk, rows_read, rows_written in dead
    ]


def skipped(source: str, *, trigger: str, started: float) -> SyncResult:
    """Record a run that found the source claimed, naming who holds it."""
    state = SyncState.objects.get(source=source)
    reason = (
        f"skipped: a sync of {source!r} is already running "
        f"(claimed by {state.claimed_by} at {state.claimed_at:%Y-%m-%d %H:%M:%S} UTC)"
    )
    record = SyncRun.objects.create(
        source=source,
        trigger=trigger,
        status=RunStatus.SKIPPED,
        error=reason,
        finished_at=timezone.now(),
        cursor_start=state.cursor,
        cursor_end=state.cursor,
    )
    logger.info("chat sync %s", reason)
    result = SyncResult(
        status=RunStatus.SKIPPED,
        run_id=record.pk,
        cursor=state.cursor,
        error=reason,
        duration_ms=int((time.monotonic() - started) * 1000),
    )
    _count(result)
    events.send_done(result.done_payload(source))
    return result


def _counters(result: SyncResult, cursor: int) -> dict:
    return {
        "rows_read": result.rows_read,
        "rows_written": result.rows_written,
        "rows_skipped": result.rows_skipped,
        "cursor_end": cursor,
    }


def record_progress(run: ClaimedRun, result: SyncResult, cursor: int) -> None:
    """The run's counters so far, written in each batch's transaction (the admin shows them)."""
    SyncRun.objects.filter(pk=run.record.pk).update(**_counters(result, cursor))


def _count(result: SyncResult) -> None:
    metrics.sync_run_counted(
        status=result.status,
        rows_read=result.rows_read,
        rows_written=result.rows_written,
        rows_skipped=result.rows_skipped,
    )


def finish(run: ClaimedRun, result: SyncResult) -> None:
    """Close the run and release the source in one commit, then send `sync:done`."""
    now = timezone.now()
    if result.status == RunStatus.SUCCESS:
        outcome = {"status": SyncStatus.SUCCESS, "last_success_at": now, "last_error": ""}
    else:
        outcome = {"status": SyncStatus.FAILED, "last_error": result.error}
    with transaction.atomic():
        SyncRun.objects.filter(pk=run.record.pk).update(
            status=result.status,
            finished_at=now,
            error=result.error,
            **_counters(result, result.cursor),
        )
        run.claim.release(last_run_at=now, runs_total=F("runs_total") + 1, **outcome)
    _count(result)
    sync_run_record(
        source=run.source,
        succeeded=result.status == RunStatus.SUCCESS,
        rows_read=result.rows_read,
        rows_written=result.rows_written,
        now=now,
    )
    events.send_done(result.done_payload(run.source))
