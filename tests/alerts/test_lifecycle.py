"""The evaluator's lifecycle on real rows (MariaDB when available), with the clock
handed in: fires after the for-duration, one notification per incident, reminders
until acknowledged, flapping re-opens silently, silences suppress. Notifications
reach a real local webhook receiver."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from endpoints.models import Endpoint, EndpointEvent, EndpointLiveStatus
from tests.alerts.conftest import make_rule, settle
from tests.notifications.conftest import make_channel
from xiaozhi_hub.alerts import kinds, services
from xiaozhi_hub.alerts.engine import evaluate_rules
from xiaozhi_hub.alerts.models import Alert, PendingCondition

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "LifecycleSecretToken"
MINUTE = timedelta(minutes=1)


def make_endpoint(name: str = "kitchen") -> Endpoint:
    return Endpoint.objects.create(name=name, url=f"wss://api.example.org/mcp/?token={TOKEN}{name}")


def set_state(endpoint: Endpoint, state: str, *, at) -> None:
    """What a pool worker holding the endpoint writes on a state change."""
    Endpoint.objects.filter(pk=endpoint.pk).update(
        owner="worker-1", lease_expires_at=timezone.now() + timedelta(days=1)
    )
    EndpointLiveStatus.objects.update_or_create(
        endpoint=endpoint, defaults={"state": state, "connected": state == "connected"}
    )
    EndpointEvent.objects.create(endpoint=endpoint, state=state, at=at)


def test_an_incident_fires_once_after_its_for_duration_and_resolves_once(webhook):
    make_rule(kinds.ENDPOINT_DOWN, for_minutes=5)
    endpoint = make_endpoint()
    t0 = timezone.now()
    set_state(endpoint, "connected", at=t0 - 10 * MINUTE)
    set_state(endpoint, "backoff", at=t0)

    assert not evaluate_rules(now=t0 + 4 * MINUTE)  # not held long enough yet
    assert not Alert.objects.exists()
    assert evaluate_rules(now=t0 + 5 * MINUTE)["notified_firing"] == 1
    for minutes in (6, 7, 8):  # still down: nothing new
        assert evaluate_rules(now=t0 + minutes * MINUTE)["notified_firing"] == 0
    alert = Alert.objects.get()
    assert (alert.state, alert.started_at) == ("firing", t0)
    assert alert.subject == f"endpoint:{endpoint.pk}"

    set_state(endpoint, "connected", at=t0 + 9 * MINUTE)
    outcome = evaluate_rules(now=t0 + 9 * MINUTE)
    assert (outcome["resolved"], outcome["notified_resolved"]) == (1, 1)  # flap window 0
    assert not evaluate_rules(now=t0 + 10 * MINUTE)

    assert settle(webhook, 2) == [
        ("firing", f"alert:{alert.pk}"),
        ("resolved", f"alert:{alert.pk}"),
    ]
    firing = webhook.requests[0].json()
    assert firing["title"] == "[FIRING] test endpoint_down: kitchen"
    assert "Endpoint “kitchen” is not connected (state backoff)." in firing["body"]
    assert firing["url"].endswith(f"/admin/alerts/alert/{alert.pk}/change/")
    resolved = webhook.requests[1].json()
    assert resolved["title"] == "[RESOLVED] test endpoint_down: kitchen"
    assert "after 9 min" in resolved["body"]
    assert all(TOKEN not in r.body.decode() for r in webhook.requests)


def test_chinese_channels_get_the_chinese_text(webhook):
    make_channel("中文", "webhook", {"url": webhook.url("/zh")}, min_severity="info")
    make_rule(kinds.ENDPOINT_FAILED, severity="critical")
    endpoint = make_endpoint("客厅")
    set_state(endpoint, "failed", at=timezone.now())
    evaluate_rules()
    settle(webhook, 2)
    chinese = next(r.json() for r in webhook.requests if r.path == "/zh")
    assert chinese["title"] == "【告警】端点连接失败：客厅"
    assert chinese["body"].startswith("端点“客厅”连接失败，已停止重连。\n级别：严重；开始于 ")


def test_flapping_within_the_window_reopens_the_same_alert_without_notifications(webhook):
    make_rule(kinds.ENDPOINT_DOWN, for_minutes=0, flap_minutes=10)
    endpoint = make_endpoint()
    t0 = timezone.now()
    set_state(endpoint, "backoff", at=t0)
    assert evaluate_rules(now=t0)["notified_firing"] == 1
    for minute in (1, 3, 5):  # up, then down again, within the window each time
        set_state(endpoint, "connected", at=t0 + minute * MINUTE)
        outcome = evaluate_rules(now=t0 + minute * MINUTE)
        assert (outcome["resolved"], outcome["notified_resolved"]) == (1, 0)
        set_state(endpoint, "backoff", at=t0 + (minute + 1) * MINUTE)
        outcome = evaluate_rules(now=t0 + (minute + 1) * MINUTE)
        assert (outcome["reopened"], outcome["fired"], outcome["notified_firing"]) == (1, 0, 0)
    alert = Alert.objects.get()
    assert (alert.state, alert.flap_count) == ("firing", 3)

    set_state(endpoint, "connected", at=t0 + 7 * MINUTE)
    evaluate_rules(now=t0 + 7 * MINUTE)  # resolved; the notice waits out the window
    assert not evaluate_rules(now=t0 + 16 * MINUTE)["notified_resolved"]
    assert evaluate_rules(now=t0 + 17 * MINUTE)["notified_resolved"] == 1
    assert settle(webhook, 2) == [
        ("firing", f"alert:{alert.pk}"),
        ("resolved", f"alert:{alert.pk}"),
    ]

    # Past the window the incident is over: going down again is a new one, notified.
    set_state(endpoint, "backoff", at=t0 + 18 * MINUTE)
    assert evaluate_rules(now=t0 + 18 * MINUTE)["notified_firing"] == 1
    assert Alert.objects.count() == 2


def test_reminders_repeat_until_the_alert_is_acknowledged(webhook, django_user_model):
    make_rule(kinds.ENDPOINT_DOWN, reminder_hours=1)
    endpoint = make_endpoint()
    t0 = timezone.now()
    set_state(endpoint, "degraded", at=t0)
    evaluate_rules(now=t0)
    hour = timedelta(hours=1)
    assert evaluate_rules(now=t0 + hour - MINUTE)["notified_reminder"] == 0
    assert evaluate_rules(now=t0 + hour)["notified_reminder"] == 1
    assert evaluate_rules(now=t0 + 2 * hour)["notified_reminder"] == 1
    alert = Alert.objects.get()
    assert alert.reminder_count == 2

    operator = django_user_model.objects.create_user("operator", is_staff=True)
    services.alert_acknowledge(alert_id=alert.pk, user=operator)
    assert evaluate_rules(now=t0 + 5 * hour)["notified_reminder"] == 0
    set_state(endpoint, "connected", at=t0 + 5 * hour)
    assert evaluate_rules(now=t0 + 5 * hour)["notified_resolved"] == 1  # still told it is over

    events = [event for event, _ in settle(webhook, 4)]
    assert events == ["firing", "reminder", "reminder", "resolved"]
    reminder = webhook.requests[1].json()
    assert reminder["title"] == "[STILL FIRING] test endpoint_down: kitchen"
    assert "Endpoint “kitchen” is degraded" in reminder["body"]
    assert "(reminder 1)" in reminder["body"]


def test_a_silence_suppresses_every_notification_and_carries_over_to_a_new_incident(webhook):
    make_rule(kinds.ENDPOINT_DOWN, reminder_hours=0.1)
    endpoint = make_endpoint()
    t0 = timezone.now()
    set_state(endpoint, "backoff", at=t0)
    evaluate_rules(now=t0)
    first = Alert.objects.get()
    services.alert_silence(alert_id=first.pk, minutes=60)

    assert not evaluate_rules(now=t0 + 30 * MINUTE)["notified_reminder"]  # silenced
    set_state(endpoint, "connected", at=t0 + 31 * MINUTE)
    assert evaluate_rules(now=t0 + 31 * MINUTE)["closed"] == 1  # over, and not told
    set_state(endpoint, "backoff", at=t0 + 32 * MINUTE)
    assert evaluate_rules(now=t0 + 32 * MINUTE)["fired"] == 1  # a new incident, same silence
    second = Alert.objects.exclude(pk=first.pk).get()
    assert second.silenced_until == Alert.objects.get(pk=first.pk).silenced_until
    assert second.notified_at is None

    # The silence ends while it still fires: the firing held back goes out then.
    assert evaluate_rules(now=second.silenced_until + MINUTE)["notified_firing"] == 1
    assert settle(webhook, 2) == [
        ("firing", f"alert:{first.pk}"),
        ("firing", f"alert:{second.pk}"),
    ]


def test_conditions_without_a_start_time_wait_from_the_tick_that_first_saw_them(webhook):
    rule = make_rule(kinds.HEALTHY_RATIO, params={"percent": 50}, for_minutes=2)
    endpoints = [make_endpoint(f"e{i}") for i in range(3)]
    t0 = timezone.now()
    set_state(endpoints[0], "connected", at=t0)
    for endpoint in endpoints[1:]:
        set_state(endpoint, "backoff", at=t0)  # 1 of 3 healthy: 33 %
    evaluate_rules(now=t0)
    assert PendingCondition.objects.get(rule=rule, subject="pool").since == t0
    assert not evaluate_rules(now=t0 + MINUTE)["fired"]
    assert evaluate_rules(now=t0 + 2 * MINUTE)["fired"] == 1
    assert not PendingCondition.objects.exists()
    assert Alert.objects.get().message == (
        "Only 1 of 3 enabled endpoints are healthy (33 %, below 50 %)."
    )

    # Cleared before its for-duration: the clock is dropped, nothing fires.
    set_state(endpoints[1], "connected", at=t0 + 3 * MINUTE)
    evaluate_rules(now=t0 + 3 * MINUTE)
    set_state(endpoints[1], "backoff", at=t0 + 4 * MINUTE)
    evaluate_rules(now=t0 + 4 * MINUTE)
    set_state(endpoints[1], "connected", at=t0 + 5 * MINUTE)
    evaluate_rules(now=t0 + 5 * MINUTE)
    assert not PendingCondition.objects.exists()
    assert [e for e, _ in settle(webhook, 2)] == ["firing", "resolved"]


def test_a_disabled_rule_ends_its_alerts_without_notifications(webhook):
    rule = make_rule(kinds.ENDPOINT_FAILED)
    set_state(make_endpoint(), "failed", at=timezone.now())
    evaluate_rules()
    rule.enabled = False
    rule.save()
    assert evaluate_rules()["closed"] == 1
    alert = Alert.objects.get()
    assert (alert.state, alert.closed_at is not None, alert.resolve_notified_at) == (
        "resolved",
        True,
        None,
    )
    assert [e for e, _ in settle(webhook, 1)] == ["firing"]
