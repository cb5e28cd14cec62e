"""Reads of alerts and rules: the one alert object of REST and the console (snake_case)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from .models import Alert

STATES = (Alert.FIRING, Alert.RESOLVED)
# The console's snapshot: every firing alert, and those resolved within this long.
RECENT_RESOLVED = timedelta(hours=24)
SNAPSHOT_LIMIT = 100


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def alert_payload(alert: Alert, *, now: datetime | None = None) -> dict[str, Any]:
    now = now or timezone.now()
    rule = alert.rule
    return {
        "id": alert.pk,
        "rule_id": rule.pk,
        "rule_name": rule.name,
        "kind": rule.kind,
        "severity": alert.severity,
        "subject": alert.subject,
        "subject_label": alert.subject_label,
        "state": alert.state,
        "message": alert.message,
        "message_zh": alert.message_zh,
        "started_at": _iso(alert.started_at),
        "fired_at": _iso(alert.fired_at),
        "resolved_at": _iso(alert.resolved_at),
        "closed_at": _iso(alert.closed_at),
        "notified_at": _iso(alert.notified_at),
        "last_notified_at": _iso(alert.last_notified_at),
        "reminder_count": alert.reminder_count,
        "flap_count": alert.flap_count,
        "acknowledged_by": alert.acknowledged_by.get_username() if alert.acknowledged_by else None,
        "acknowledged_at": _iso(alert.acknowledged_at),
        "silenced_until": _iso(alert.silenced_until),
        "silenced": alert.silenced(now),
    }


def _with_relations(queryset: QuerySet[Alert]) -> QuerySet[Alert]:
    return queryset.select_related("rule", "acknowledged_by")


def alert_get(*, alert_id: int) -> Alert:
    return _with_relations(Alert.objects.all()).get(pk=alert_id)


def alert_queryset(*, state: str | None = None) -> QuerySet[Alert]:
    """The alerts, their rule and acknowledger joined; `state` firing or resolved (None:
    both). Unordered: the REST pagination orders them (newest first)."""
    queryset = _with_relations(Alert.objects.all())
    return queryset if state is None else queryset.filter(state=state)


def alerts_snapshot() -> list[dict[str, Any]]:
    """Firing alerts and those resolved in the last 24 hours, newest first."""
    now = timezone.now()
    recent = Q(state=Alert.FIRING) | Q(resolved_at__gte=now - RECENT_RESOLVED)
    queryset = _with_relations(Alert.objects.filter(recent)).order_by("-fired_at", "-id")
    return [alert_payload(alert, now=now) for alert in queryset[:SNAPSHOT_LIMIT]]
