"""Delivery in the background: one Celery task per channel and notification, retried
with exponential backoff; in one-process mode (no broker) a thread does the same.

The caller queues and goes on: a slow or dead robot never holds up the alert
engine, the pool or the sync.
"""

from __future__ import annotations

import logging
import threading
import time

from celery import shared_task
from django.conf import settings
from django.db import close_old_connections

from xiaozhi_hub.masking import mask_text

from .message import Notification
from .senders import DeliveryError
from .services import channel_deliver

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
BACKOFF_MAX = 600  # seconds: no wait between two attempts is longer


def retry_countdown(retries: int) -> float:
    """Seconds before attempt `retries` + 2: HUB_NOTIFY_RETRY_BACKOFF * 2**retries, capped."""
    return min(BACKOFF_MAX, settings.HUB_NOTIFY_RETRY_BACKOFF * 2**retries)


def _gave_up(channel_id: int, notification: Notification) -> None:
    logger.warning(
        "notification %s (%s) to channel #%s: gave up after %s attempts",
        notification.key,
        notification.event,
        channel_id,
        MAX_ATTEMPTS,
    )


@shared_task(bind=True, ignore_result=True, max_retries=MAX_ATTEMPTS - 1)
def deliver_notification(self, channel_id: int, notification: dict) -> None:
    """One attempt; a failure is recorded on the channel and retried later."""
    parsed = Notification.from_dict(notification)
    try:
        channel_deliver(channel_id=channel_id, notification=parsed)
    except DeliveryError as exc:
        if self.request.retries >= self.max_retries:
            _gave_up(channel_id, parsed)
            return
        raise self.retry(exc=exc, countdown=retry_countdown(self.request.retries)) from None


def _deliver_in_thread(channel_id: int, notification: Notification) -> None:
    """One-process mode: the same attempts and waits as the task, in a daemon thread."""
    try:
        for attempt in range(MAX_ATTEMPTS):
            try:
                channel_deliver(channel_id=channel_id, notification=notification)
                return
            except DeliveryError:
                if attempt + 1 < MAX_ATTEMPTS:
                    time.sleep(retry_countdown(attempt))
        _gave_up(channel_id, notification)
    finally:
        close_old_connections()


def queue_delivery(channel_id: int, notification: Notification) -> bool:
    """Start delivering `notification` to the channel in the background; False if it
    could not be queued (the broker is down: logged, never raised to the caller)."""
    if deliver_notification.app.conf.task_always_eager:
        threading.Thread(
            target=_deliver_in_thread,
            args=(channel_id, notification),
            name=f"notify-{channel_id}",
            daemon=True,
        ).start()
        return True
    try:
        deliver_notification.delay(channel_id, notification.as_dict())
    except Exception as exc:  # noqa: BLE001 - kombu/redis errors: the caller must go on
        logger.error(
            "notification %s to channel #%s could not be queued: %s",
            notification.key,
            channel_id,
            mask_text(str(exc)),
        )
        return False
    return True
