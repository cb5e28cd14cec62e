"""The sync's Celery tasks: the beat tick fans out, one `sync_source` per due source.

The claim (sync/claim.py) keeps one run per source however many tasks arrive.
"""

import logging

from celery import shared_task

from .models import DEFAULT_SOURCE, Source
from .retention.tasks import apply_retention  # noqa: F401 - registered with Celery
from .search.tasks import index_new_messages
from .source_selectors import source_queryset, sources_due
from .source_services import source_ensure_environment
from .sources.registry import source_configured
from .sync.dispatch import run_source_sync

logger = logging.getLogger(__name__)

RETRY_BACKOFF_MAX = 300  # seconds


def _run_one(
    task, key: str, *, full: bool, device, session_id, trigger: str, key_argument: str
) -> None:
    """One run of source `key`; a failed run is retried with backoff (10, 20, 40 ... s)."""
    source = Source.objects.filter(key=key).first()
    if source is None and key == DEFAULT_SOURCE:
        source = source_ensure_environment()
    if source is None:
        logger.info("chat sync: no source %r (removed?)", key)
        return
    result = run_source_sync(
        source, full=full, device=device, session_id=session_id, trigger=trigger
    )
    if result.status == "not_configured":
        logger.info("chat sync of %s: not configured (%s)", key, result.error)
    elif result.status == "failed" and not task.request.is_eager:
        countdown = min(RETRY_BACKOFF_MAX, 10 * 2**task.request.retries)
        # A failed full resync already rewound the cursor: the retry just carries on.
        retry_kwargs = {
            "device": device,
            "session_id": session_id,
            "trigger": "retry",
            key_argument: key,  # the task's own name for the source
        }
        raise task.retry(exc=result.exception, countdown=countdown, kwargs=retry_kwargs)


def fan_out(
    *, full: bool = False, device=None, session_id=None, trigger: str = "beat"
) -> list[str]:
    """Queue `sync_source` for each source to sync now: on the beat's tick the due ones,
    otherwise every enabled, configured one. Returns their keys.

    Each tick also indexes what is new for the search (synced and reported messages): a
    tick with nothing new costs it one query."""
    source_ensure_environment()
    if trigger == "beat":
        index_new_messages.delay()
    if trigger == "beat":
        keys = [s.key for s in sources_due()]
    else:
        keys = [s.key for s in source_queryset(enabled=True) if source_configured(s)]
    for key in keys:
        sync_source.delay(key, full=full, device=device, session_id=session_id, trigger=trigger)
    return keys


@shared_task(bind=True, ignore_result=True, max_retries=5)
def sync_source(
    self,
    key: str,
    full: bool = False,
    device: str | None = None,
    session_id: str | None = None,
    trigger: str = "beat",
) -> None:
    """One run of the source `key` (whatever its kind)."""
    _run_one(
        self,
        key,
        full=full,
        device=device,
        session_id=session_id,
        trigger=trigger,
        key_argument="key",
    )


@shared_task(bind=True, ignore_result=True, max_retries=5)
def sync_chat_history(
    self,
    full: bool = False,
    device: str | None = None,
    session_id: str | None = None,
    trigger: str = "beat",
    source: str | None = None,
) -> None:
    """Beat (every HUB_SYNC_INTERVAL s) and sync requests.

    With `source`: one run of that source, here. Without: the due sources (beat) or
    every enabled one (any other trigger) each get a `sync_source` task.
    """
    if source is not None:
        _run_one(
            self,
            source,
            full=full,
            device=device,
            session_id=session_id,
            trigger=trigger,
            key_argument="source",
        )
        return
    fan_out(full=full, device=device, session_id=session_id, trigger=trigger)
