"""Alerts end to end with real processes: real xiaozhi peers (WebSocket servers), the pool
worker dialling them (tests/endpoints' in-process worker, in Redis mode), the evaluator
ticking in real time, and a real local HTTP receiver behind a webhook channel.

Time is shortened through the rules themselves (for-durations and windows of seconds),
not through test settings: the code under test is the production path."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from endpoints.models import Endpoint, EndpointLiveStatus
from tests.alerts.conftest import events_of, make_rule
from tests.endpoints.conftest import secret_token, wait_until
from xiaozhi_hub.alerts import kinds
from xiaozhi_hub.alerts.engine import evaluate_rules
from xiaozhi_hub.alerts.models import Alert

pytestmark = [
    pytest.mark.requires_services("mysql", "redis"),
    pytest.mark.django_db(transaction=True),
]

# Reconnect fast and forever (never `failed`), ping every second.
FAST = {
    "reconnect_interval": 0.2,
    "max_reconnect_delay": 0.5,
    "max_reconnect_attempts": 0,
    "jitter": False,
    "health_check_interval": 1.0,
    "connection_timeout": 2.0,
}
TICK = 0.3  # seconds between evaluations (HUB_ALERT_INTERVAL in production)
SECONDS = 1 / 60  # a rule's minutes, in seconds


@pytest.fixture
def worker(start_worker):
    return start_worker(ttl=12, reconcile_interval=0.5)


def endpoint_for(peer, name: str) -> Endpoint:
    return Endpoint.objects.create(name=name, url=peer.url(secret_token(name)), **FAST)


def state_of(endpoint: Endpoint) -> str | None:
    return (
        EndpointLiveStatus.objects.filter(endpoint=endpoint).values_list("state", flat=True).first()
    )


def wait_state(endpoint: Endpoint, state: str, *, timeout: float = 20) -> float:
    wait_until(lambda: state_of(endpoint) == state, timeout=timeout, message=f"never {state}")
    return time.monotonic()


def tick_until(predicate, *, timeout: float, message: str) -> float:
    """Evaluate the rules every TICK seconds until `predicate()`; when it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        evaluate_rules()
        if predicate():
            return time.monotonic()
        time.sleep(TICK)
    raise AssertionError(message)


def tick_for(seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        evaluate_rules()
        time.sleep(TICK)


def test_a_peer_that_goes_away_fires_once_and_resolves_once_when_it_returns(
    peer_thread, worker, webhook
):
    make_rule(kinds.ENDPOINT_DOWN, for_minutes=3 * SECONDS, flap_minutes=3 * SECONDS)
    peer = peer_thread.peer()
    endpoint = endpoint_for(peer, "living-room")
    wait_state(endpoint, "connected")
    tick_for(1)
    assert webhook.requests == []

    peer_thread.run(peer.stop())
    gone = time.monotonic()
    fired = tick_until(lambda: webhook.requests, timeout=30, message="no firing notification")
    assert fired - gone >= 3  # held for the rule's for-duration first
    tick_for(2)  # still down: nothing more
    alert = Alert.objects.get()
    assert events_of(webhook) == [("firing", f"alert:{alert.pk}")]
    body = webhook.requests[0].json()["body"]
    assert "Endpoint “living-room” is not connected" in body and "SeCrEtToKeN" not in body

    peer_thread.run(peer.start())  # back on the same port: the worker reconnects
    back = wait_state(endpoint, "connected")
    resolved = tick_until(
        lambda: len(webhook.requests) == 2, timeout=30, message="no resolved notification"
    )
    assert resolved - back >= 3  # the resolve notice waits out the flap window
    tick_for(1.5)
    assert events_of(webhook) == [
        ("firing", f"alert:{alert.pk}"),
        ("resolved", f"alert:{alert.pk}"),
    ]
    alert.refresh_from_db()
    assert (alert.state, alert.flap_count) == ("resolved", 0)


def test_flapping_within_the_window_sends_nothing_extra(peer_thread, worker, webhook):
    make_rule(kinds.ENDPOINT_DOWN, for_minutes=0, flap_minutes=60 * SECONDS)
    peer = peer_thread.peer()
    endpoint = endpoint_for(peer, "flappy")
    wait_state(endpoint, "connected")
    for _ in range(2):  # down and up twice within the minute
        peer_thread.run(peer.stop())
        tick_until(
            lambda: Alert.objects.filter(state="firing").exists(), timeout=20, message="no alert"
        )
        peer_thread.run(peer.start())
        wait_state(endpoint, "connected")
        tick_until(
            lambda: Alert.objects.filter(state="resolved").exists(), timeout=20, message="stuck"
        )
    tick_for(1)
    alert = Alert.objects.get()  # one incident, re-opened once
    assert alert.flap_count == 1
    assert events_of(webhook) == [("firing", f"alert:{alert.pk}")]

    # Once the window has passed, one resolved notification ends it.
    evaluate_rules(now=timezone.now() + timedelta(seconds=61))
    webhook.wait_for(2)
    assert events_of(webhook) == [
        ("firing", f"alert:{alert.pk}"),
        ("resolved", f"alert:{alert.pk}"),
    ]


def test_a_silence_set_over_rest_suppresses_the_resolved_and_the_next_firing(
    peer_thread, worker, webhook, staff_user
):
    make_rule(kinds.ENDPOINT_DOWN, for_minutes=0, flap_minutes=0)
    peer = peer_thread.peer()
    endpoint = endpoint_for(peer, "quiet")
    wait_state(endpoint, "connected")
    peer_thread.run(peer.stop())
    tick_until(lambda: webhook.requests, timeout=20, message="no firing notification")
    alert = Alert.objects.get()

    client = APIClient()
    client.force_login(staff_user)
    response = client.post(f"/api/alerts/{alert.pk}/silence", {"minutes": 60}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["alert"]["silenced"] is True

    peer_thread.run(peer.start())
    wait_state(endpoint, "connected")
    tick_until(
        lambda: Alert.objects.filter(closed_at__isnull=False).exists(), timeout=20, message="open"
    )
    peer_thread.run(peer.stop())  # a new incident while the silence runs
    tick_until(lambda: Alert.objects.count() == 2, timeout=20, message="no second incident")
    tick_for(1.5)
    assert events_of(webhook) == [("firing", f"alert:{alert.pk}")]


def test_acknowledging_stops_the_reminders(peer_thread, worker, webhook, staff_user):
    make_rule(kinds.ENDPOINT_DOWN, for_minutes=0, reminder_hours=2 / 3600)  # every 2 s
    peer = peer_thread.peer()
    endpoint = endpoint_for(peer, "nagging")
    wait_state(endpoint, "connected")
    peer_thread.run(peer.stop())
    tick_until(lambda: len(webhook.requests) >= 2, timeout=20, message="no reminder")
    alert = Alert.objects.get()
    assert [event for event, _ in events_of(webhook)] == ["firing", "reminder"]

    client = APIClient()
    client.force_login(staff_user)
    assert client.post(f"/api/alerts/{alert.pk}/acknowledge").status_code == 200
    tick_for(1)  # a reminder already queued may still land
    heard = len(webhook.requests)
    tick_for(5)
    assert len(webhook.requests) == heard
    assert Alert.objects.get().acknowledged_by == staff_user


def test_the_healthy_share_rule_with_four_endpoints_and_two_dropped(peer_thread, worker, webhook):
    half = make_rule(kinds.HEALTHY_RATIO, name="below half", params={"percent": 50})
    most = make_rule(kinds.HEALTHY_RATIO, name="below 60 %", params={"percent": 60})
    half.enabled = True  # make_rule disabled the other rules
    half.save()
    peers = [peer_thread.peer() for _ in range(4)]
    endpoints = [endpoint_for(peer, f"ep{i}") for i, peer in enumerate(peers)]
    for endpoint in endpoints:
        wait_state(endpoint, "connected")
    tick_for(1)
    assert webhook.requests == []

    for peer in peers[:2]:
        peer_thread.run(peer.stop())
    tick_until(lambda: webhook.requests, timeout=30, message="the 60 % rule did not fire")
    tick_for(1.5)
    # 2 of 4 healthy is 50 %: below 60 %, but not fewer than 50 %.
    alert = Alert.objects.get()
    assert (alert.rule, alert.subject) == (most, "pool")
    assert alert.message == "Only 2 of 4 enabled endpoints are healthy (50 %, below 60 %)."
    assert events_of(webhook) == [("firing", f"alert:{alert.pk}")]

    peer_thread.run(peers[2].stop())  # 1 of 4: now the 50 % rule fires too
    tick_until(lambda: len(webhook.requests) == 2, timeout=30, message="50 % rule silent")
    assert Alert.objects.get(rule=half).message.startswith("Only 1 of 4 enabled endpoints")

    for peer in peers[:3]:
        peer_thread.run(peer.start())
    tick_until(lambda: len(webhook.requests) == 4, timeout=30, message="not resolved")
    assert sorted(event for event, _ in events_of(webhook)) == [
        "firing",
        "firing",
        "resolved",
        "resolved",
    ]
