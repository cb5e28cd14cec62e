"""The console's `alerts` channel: its name, the deltas' payload and their senders.

Snake_case keys, like the chat family (docs/console.md, "Casing"). Deltas go
out after the transaction that made the change commits, so a subscriber never
sees an alert the database does not have.
"""

from __future__ import annotations

from typing import Any, TypedDict

from django.db import transaction

from xiaozhi_hub.broadcast import broadcast

ALERTS = "alerts"

ALERT_FIRING = "alert_firing"  # a new incident, or one that re-opened (flapping)
ALERT_RESOLVED = "alert_resolved"  # its condition cleared
ALERT_UPDATED = "alert_updated"  # acknowledged, silenced, closed, message changed


class AlertEventPayload(TypedDict):
    alert: dict[str, Any]  # selectors.alert_payload


def send_alert_event(event_type: str, alert_payload: dict[str, Any]) -> None:
    """Broadcast on commit of the current transaction (at once outside one)."""
    payload: AlertEventPayload = {"alert": alert_payload}
    transaction.on_commit(lambda: broadcast(ALERTS, event_type, dict(payload)))
