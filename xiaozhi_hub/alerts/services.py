"""What operators do to an alert: acknowledge it (no more reminders) or silence it for a
while (no notifications at all). Shared by the admin, REST and the console, which
check the permission (alerts.change_alert) and write the audit log themselves."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from . import events
from .models import Alert
from .selectors import alert_get, alert_payload

# A silence lasts at most a week: longer, and the rule should be disabled instead.
MAX_SILENCE_MINUTES = 7 * 24 * 60


class AlertActionError(ValueError):
    """An action the alert's state does not allow, or a bad argument; the message says why."""


def _locked(alert_id: int) -> Alert:
    Alert.objects.select_for_update().filter(pk=alert_id).exists()  # the row lock
    return alert_get(alert_id=alert_id)  # Alert.DoesNotExist for an unknown id


def alert_acknowledge(*, alert_id: int, user) -> Alert:
    """Mark an open alert as seen by `user`: no reminders while it fires. Acknowledging
    again keeps the first acknowledgement."""
    with transaction.atomic():
        alert = _locked(alert_id)
        if alert.closed_at is not None:
            raise AlertActionError(f"alert {alert_id} is over (resolved); nothing to acknowledge")
        if alert.acknowledged_at is None:
            alert.acknowledged_by, alert.acknowledged_at = user, timezone.now()
            alert.save(update_fields=["acknowledged_by", "acknowledged_at", "updated_at"])
            events.send_alert_event(events.ALERT_UPDATED, alert_payload(alert))
        return alert


def clean_minutes(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise AlertActionError('"minutes" must be a whole number')
    if not 0 <= value <= MAX_SILENCE_MINUTES:
        raise AlertActionError(f'"minutes" must be between 0 and {MAX_SILENCE_MINUTES} (a week)')
    return value


def alert_silence(*, alert_id: int, minutes: int) -> Alert:
    """No notifications about the alert for `minutes` from now (0 lifts the silence)."""
    minutes = clean_minutes(minutes)
    with transaction.atomic():
        alert = _locked(alert_id)
        if alert.closed_at is not None and minutes:
            raise AlertActionError(f"alert {alert_id} is over (resolved); nothing to silence")
        alert.silenced_until = timezone.now() + timedelta(minutes=minutes) if minutes else None
        alert.save(update_fields=["silenced_until", "updated_at"])
        events.send_alert_event(events.ALERT_UPDATED, alert_payload(alert))
        return alert
