"""The one door into notifications: `notify(Notification(...))`.

The caller (the alert engine, the admin's test action) never waits for a
delivery: each enabled channel that admits the severity gets its own
background delivery, queued once the caller's transaction commits.
"""

from __future__ import annotations

from django.db import transaction

from .message import SEVERITIES, Notification, severity_rank
from .models import NotificationChannel
from .tasks import queue_delivery

__all__ = ["Notification", "notify"]


def notify(notification: Notification) -> int:
    """Queue `notification` for every enabled channel whose minimum severity admits it;
    returns how many channels that is."""
    admitting = SEVERITIES[: severity_rank(notification.severity) + 1]
    channel_ids = list(
        NotificationChannel.objects.filter(enabled=True, min_severity__in=admitting)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for channel_id in channel_ids:
        transaction.on_commit(
            lambda channel_id=channel_id: queue_delivery(channel_id, notification)
        )
    return len(channel_ids)
