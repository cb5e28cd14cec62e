"""The evaluator: every enabled rule, every tick (tasks.py, HUB_ALERT_INTERVAL seconds).

The lifecycle of an incident (docs/alerts.md, "Lifecycle"):

1. A condition is seen (conditions.py). Its clock starts when the data says it
   began (an endpoint's state-change event, a token's expiry minus the window,
   the first failed sync run) or, when the data cannot say, at the tick that
   first saw it (a PendingCondition row). Nothing is sent yet.
2. Held for the rule's for-duration, it **fires**: one Alert row, one `firing`
   notification (dedup: an incident is notified once).
3. While it fires, a `reminder` goes out every reminder_hours unless the alert is
   acknowledged or silenced.
4. The condition clears: the alert is **resolved** at once (the console shows it),
   but the `resolved` notification waits out the rule's flap window.
5. If the condition comes back (and holds for the for-duration again) within that
   window, the same alert **re-opens** (flap_count + 1) with no notification at all:
   no second `firing`, and the pending `resolved` is never sent. Past the window the
   alert is **closed**, the `resolved` notification goes out, and a later condition
   is a new incident.

Silenced (silenced_until in the future): nothing is sent about the alert, firing,
reminder or resolved; a `firing` that was held back goes out when the silence ends
while it still fires. A new incident of the same rule and subject takes over a
silence that is still running. A disabled rule's open alerts are resolved and
closed without notification.

Each rule is evaluated in one transaction holding its row (SELECT ... FOR UPDATE),
so overlapping ticks (two beat processes, a slow tick) never double-notify; the
notifications and console deltas leave when it commits.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from xiaozhi_hub.notifications.dispatch import Notification, notify
from xiaozhi_hub.transactions import retries_on_lock_conflict

from . import conditions, events, texts
from .conditions import Finding
from .models import Alert, AlertRule, PendingCondition
from .selectors import alert_payload

logger = logging.getLogger(__name__)


def evaluate_rules(*, now: datetime | None = None) -> Counter:
    """One tick over every rule; counts of what happened (fired, resolved, notified...)."""
    now = now or timezone.now()
    outcome: Counter = Counter()
    for rule_id in AlertRule.objects.order_by("id").values_list("id", flat=True):
        try:
            outcome.update(evaluate_rule(rule_id, now=now))
        except Exception:  # one broken rule must not stop the others
            logger.exception("alert rule %s could not be evaluated", rule_id)
            outcome["errors"] += 1
    return outcome


@retries_on_lock_conflict
def evaluate_rule(rule_id: int, *, now: datetime) -> Counter:
    with transaction.atomic():
        rule = AlertRule.objects.select_for_update().filter(pk=rule_id).first()
        if rule is None:
            return Counter()
        return _Evaluation(rule, now).run()


class _Evaluation:
    def __init__(self, rule: AlertRule, now: datetime) -> None:
        self.rule = rule
        self.now = now
        self.outcome: Counter = Counter()
        self.open: dict[str, Alert] = {}
        for alert in (
            Alert.objects.select_for_update()
            .filter(rule=rule, closed_at__isnull=True)
            .select_related("rule", "acknowledged_by")
            .order_by("fired_at", "id")
        ):
            alert.rule = rule
            self.open[alert.subject] = alert  # the newest wins, should there be two

    def run(self) -> Counter:
        if not self.rule.enabled:
            for alert in self.open.values():
                self._end_silently(alert)
            PendingCondition.objects.filter(rule=self.rule).delete()
            return self.outcome
        found = conditions.findings(self.rule.kind, self.rule.params, self.now)
        clocks = {c.subject: c for c in PendingCondition.objects.filter(rule=self.rule)}
        waiting: set[str] = set()
        for subject, finding in found.items():
            alert = self.open.get(subject)
            if alert is not None and alert.state == Alert.FIRING:
                self._still_firing(alert, finding)
                continue
            since = finding.since or (clocks[subject].since if subject in clocks else self.now)
            if self.now - since < timedelta(minutes=self.rule.for_minutes):
                waiting.add(subject)
                if finding.since is None and subject not in clocks:
                    PendingCondition.objects.create(rule=self.rule, subject=subject, since=since)
            elif alert is not None:
                self._reopen(alert, finding)
            else:
                self._fire(finding, since)
        PendingCondition.objects.filter(rule=self.rule).exclude(subject__in=waiting).delete()
        for subject, alert in self.open.items():
            if subject not in found and alert.state == Alert.FIRING:
                self._resolve(alert)
        for alert in self.open.values():
            flap_window = timedelta(minutes=self.rule.flap_minutes)
            if alert.state == Alert.RESOLVED and alert.resolved_at + flap_window <= self.now:
                self._close(alert)
        return self.outcome

    # --- transitions ------------------------------------------------------------------

    def _fire(self, finding: Finding, since: datetime) -> None:
        previous = (
            Alert.objects.filter(rule=self.rule, subject=finding.subject)
            .order_by("-fired_at", "-id")
            .first()
        )
        silence = previous.silenced_until if previous and previous.silenced(self.now) else None
        alert = Alert(
            rule=self.rule,
            subject=finding.subject,
            subject_label=finding.label,
            severity=self.rule.severity,
            message=finding.en,
            message_zh=finding.zh,
            started_at=min(since, self.now),
            fired_at=self.now,
            silenced_until=silence,
        )
        alert.save()
        self.open[alert.subject] = alert
        self.outcome["fired"] += 1
        if not alert.silenced(self.now):
            self._notify("firing", alert)
            alert.notified_at = alert.last_notified_at = self.now
            alert.save(update_fields=["notified_at", "last_notified_at", "updated_at"])
        self._event(events.ALERT_FIRING, alert)

    def _still_firing(self, alert: Alert, finding: Finding) -> None:
        changed = (alert.message, alert.message_zh, alert.subject_label, alert.severity) != (
            finding.en,
            finding.zh,
            finding.label,
            self.rule.severity,
        )
        alert.message, alert.message_zh = finding.en, finding.zh
        alert.subject_label, alert.severity = finding.label, self.rule.severity
        notified = self._remind(alert)
        if changed or notified:
            alert.save()
        if changed:
            self._event(events.ALERT_UPDATED, alert)

    def _remind(self, alert: Alert) -> bool:
        if alert.silenced(self.now):
            return False
        if alert.notified_at is None:  # held back by a silence that has ended
            self._notify("firing", alert)
            alert.notified_at = alert.last_notified_at = self.now
            return True
        every = self.rule.reminder_hours
        if not every or alert.acknowledged_at is not None:
            return False
        if self.now - alert.last_notified_at < timedelta(hours=every):
            return False
        alert.reminder_count += 1
        self._notify("reminder", alert)
        alert.last_notified_at = self.now
        return True

    def _reopen(self, alert: Alert, finding: Finding) -> None:
        alert.state = Alert.FIRING
        alert.resolved_at = None
        alert.flap_count += 1
        alert.message, alert.message_zh, alert.subject_label = finding.en, finding.zh, finding.label
        alert.save()
        self.outcome["reopened"] += 1
        self._event(events.ALERT_FIRING, alert)

    def _resolve(self, alert: Alert) -> None:
        alert.state = Alert.RESOLVED
        alert.resolved_at = self.now
        alert.save()
        self.outcome["resolved"] += 1
        self._event(events.ALERT_RESOLVED, alert)

    def _close(self, alert: Alert) -> None:
        alert.closed_at = self.now
        if alert.notified_at is not None and not alert.silenced(self.now):
            self._notify("resolved", alert)
            alert.resolve_notified_at = alert.last_notified_at = self.now
        alert.save()
        self.outcome["closed"] += 1
        self._event(events.ALERT_UPDATED, alert)

    def _end_silently(self, alert: Alert) -> None:
        was_firing = alert.state == Alert.FIRING
        alert.state = Alert.RESOLVED
        alert.resolved_at = alert.resolved_at or self.now
        alert.closed_at = self.now
        alert.save()
        self.outcome["closed"] += 1
        self._event(events.ALERT_RESOLVED if was_firing else events.ALERT_UPDATED, alert)

    # --- output -----------------------------------------------------------------------

    def _notify(self, event: str, alert: Alert) -> None:
        notification = Notification(
            event=event,
            key=f"alert:{alert.pk}",
            severity=alert.severity,
            title=texts.title(event, alert),
            body=texts.body(event, alert, now=self.now),
            url=reverse("admin:alerts_alert_change", args=[alert.pk]),
        )
        try:
            queued = notify(notification)
        except Exception:  # the alert's state must not depend on a channel's health
            logger.exception("alert %s: the %s notification could not be queued", alert.pk, event)
            return
        self.outcome[f"notified_{event}"] += 1
        self.outcome["deliveries"] += queued or 0

    def _event(self, event_type: str, alert: Alert) -> None:
        events.send_alert_event(event_type, alert_payload(alert, now=self.now))
