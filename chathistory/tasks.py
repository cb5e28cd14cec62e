import logging

from celery import shared_task

from .sync import run_sync

logger = logging.getLogger(__name__)

RETRY_BACKOFF_MAX = 300  # seconds


@shared_task(bind=True, ignore_result=True, max_retries=5)
def sync_chat_history(
    self,
    full: bool = False,
    device: str | None = None,
    session_id: str | None = None,
    trigger: str = "beat",
) -> None:
    """Beat (every HUB_SYNC_INTERVAL s) and sync requests: one run of the esp32 source."""
    result = run_sync(full=full, device=device, session_id=session_id, trigger=trigger)
    if result.status == "not_configured":
        logger.info("chat sync: not configured (%s)", result.error)
    elif result.status == "failed" and not self.request.is_eager:
        # Backoff 10, 20, 40 ... s; the cursor stays at the last committed batch.
        countdown = min(RETRY_BACKOFF_MAX, 10 * 2**self.request.retries)
        # A failed full resync already rewound the cursor: the retry just carries on.
        retry_kwargs = {"device": device, "session_id": session_id, "trigger": "retry"}
        raise self.retry(exc=result.exception, countdown=countdown, kwargs=retry_kwargs)
