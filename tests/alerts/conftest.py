"""Fixtures for the alerts: a real webhook receiver (a local HTTP server) behind a real
webhook notification channel, delivery in background threads as in one-process mode."""

from __future__ import annotations

import threading
import time

import pytest

from tests.endpoints.conftest import peer_thread, staff_user, start_worker  # noqa: F401 - fixtures
from tests.notifications.conftest import make_channel, receiver  # noqa: F401 - fixture
from xiaozhi_hub.alerts.models import AlertRule
from xiaozhi_hub.celery import app as celery_app


@pytest.fixture
def webhook(receiver):  # noqa: F811 - the imported fixture
    """A webhook channel that takes every severity, pointed at `receiver`.

    Delivery runs as in one-process mode (a thread per notification): the suite runs
    no Celery worker.
    """
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    target = {"url": receiver.url()}
    make_channel("test hook", "webhook", target, min_severity="info", language="en")
    yield receiver
    celery_app.conf.task_always_eager = eager
    # A delivery thread records its outcome after the receiver answered: let it finish
    # before the test's database goes away.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(
        thread.name.startswith("notify-") for thread in threading.enumerate()
    ):
        time.sleep(0.05)


def events_of(receiver) -> list[tuple[str, str]]:  # noqa: F811
    """(event, key) of every notification the receiver got, in order."""
    return [(r.json()["event"], r.json()["key"]) for r in receiver.requests]


def settle(receiver, count: int, *, quiet: float = 1.0, timeout: float = 30) -> list:  # noqa: F811
    """Wait for `count` notifications, then `quiet` seconds more: none may follow."""
    receiver.wait_for(count, timeout=timeout)
    time.sleep(quiet)
    return events_of(receiver)


def make_rule(kind: str, **fields) -> AlertRule:
    """A rule saved as the admin saves one (validated); other rules are disabled so a
    test hears only its own."""
    AlertRule.objects.update(enabled=False)
    fields.setdefault("name", f"test {kind}")
    fields.setdefault("for_minutes", 0)
    fields.setdefault("flap_minutes", 0)
    fields.setdefault("reminder_hours", 0)
    rule = AlertRule(kind=kind, **fields)
    rule.full_clean()
    rule.save()
    return rule
