"""One sync run of any source: the reader its kind needs (docs/sources.md).

mysql sources are copied by engine.run_sync (the source database's rows by id),
manager-api sources by manager_api.run_manager_api_sync (its REST read API).
Both claim the source, record a SyncRun and return a runs.SyncResult. After a run that
succeeded, the steps that follow copied messages run: the audio copy of a source in "sync"
audio mode (docs/audio.md). They never fail the run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from ..audio.copy import copy_pending
from ..events import SyncProgressPayload
from ..models import Source, SourceKind
from .engine import run_sync
from .manager_api import run_manager_api_sync
from .runs import SyncResult

logger = logging.getLogger(__name__)

AUDIO_PER_RUN = 1000  # audio files copied after one run at most (the next tick goes on)


def run_source_sync(
    source: Source,
    *,
    full: bool = False,
    batch_size: int | None = None,
    since: datetime | None = None,
    trigger: str = "beat",
    device: str | None = None,
    session_id: str | None = None,
    on_batch: Callable[[SyncProgressPayload], None] | None = None,
    backfill_mode: bool = True,
) -> SyncResult:
    """One run of `source`, by its kind; never raises (the result says what happened)."""
    if source.kind == SourceKind.MANAGER_API:
        result = run_manager_api_sync(
            source, trigger=trigger, full=full, on_batch=on_batch, batch_size=batch_size
        )
    elif source.kind == SourceKind.MYSQL:
        result = run_sync(
            source=source,
            full=full,
            batch_size=batch_size,
            since=since,
            trigger=trigger,
            device=device,
            session_id=session_id,
            on_batch=on_batch,
            backfill_mode=backfill_mode,
        )
    else:
        return SyncResult(status="not_configured", error=f"unknown source kind {source.kind!r}")
    if result.status == "success":
        _after_run(source)
    return result


def _after_run(source: Source) -> None:
    try:
        copied = copy_pending(source=source, limit=AUDIO_PER_RUN)
    except Exception:  # noqa: BLE001 - the messages are copied; the audio is retried next run
        logger.warning("audio copy after the sync of %s failed", source.key, exc_info=True)
        return
    if copied.error:
        logger.warning("audio copy after the sync of %s: %s", source.key, copied.error)
