"""Writes: one delivery attempt to a channel and its record on the channel row; the
admin's test notification."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from .message import Notification, render
from .models import NotificationChannel
from .senders import DeliveryError, send

logger = logging.getLogger(__name__)


def channel_record_success(*, channel_id: int) -> None:
    NotificationChannel.objects.filter(pk=channel_id).update(
        last_success_at=timezone.now(), consecutive_failures=0
    )


def channel_record_failure(*, channel_id: int, error: str) -> None:
    NotificationChannel.objects.filter(pk=channel_id).update(
        last_failure_at=timezone.now(),
        last_error=error,
        consecutive_failures=F("consecutive_failures") + 1,
    )


def channel_deliver(*, channel_id: int, notification: Notification) -> bool:
    """One attempt to deliver `notification` to the channel, recorded on it.

    Returns False when the channel is gone (nothing to retry); raises DeliveryError
    (its text redacted) when the attempt failed.
    """
    channel = NotificationChannel.objects.filter(pk=channel_id).first()
    if channel is None:
        return False
    try:
        send(channel.kind, channel.target, render(notification, channel.language))
    except DeliveryError as exc:
        channel_record_failure(channel_id=channel_id, error=str(exc))
        logger.warning(
            "notification %s (%s) to channel %r failed: %s",
            notification.key,
            notification.event,
            channel.name,
            exc,
        )
        raise
    channel_record_success(channel_id=channel_id)
    logger.info(
        "notification %s (%s) delivered to channel %r",
        notification.key,
        notification.event,
        channel.name,
    )
    return True


def test_notification(channel: NotificationChannel) -> Notification:
    """The `test` event the admin sends to check a channel."""
    hub = settings.HUB_NAME
    return Notification(
        event="test",
        key=f"test:{channel.pk}",
        severity="info",
        title={"en": f"Test notification from {hub}", "zh-hans": f"来自 {hub} 的测试通知"},
        body={
            "en": f"If you can read this, the channel “{channel.name}” works.",
            "zh-hans": f"收到这条消息，说明通知渠道“{channel.name}”配置正确。",
        },
        url=reverse("admin:notifications_notificationchannel_change", args=[channel.pk]),
    )


def channel_test(*, channel_id: int) -> str | None:
    """Deliver a test notification now (one attempt, the caller waits at most the
    timeout); None when it arrived, else the failure (redacted)."""
    channel = NotificationChannel.objects.get(pk=channel_id)
    try:
        channel_deliver(channel_id=channel_id, notification=test_notification(channel))
    except DeliveryError as exc:
        return str(exc)
    return None
