"""notify() through a real Celery worker process (Redis broker, MariaDB) to a real HTTP
receiver: the webhook JSON arrives exactly once per notify, only at the channels that
admit the severity; a failing receiver is retried with backoff and the channel records
the failure, then the success. In one-process mode a thread delivers, and the caller
never waits for it."""

from __future__ import annotations

import time

import pytest
from django.db import transaction

from tests.notifications.conftest import make_channel
from tests.services import REDIS_URL, bin_path, hub_database_url, hub_env, start, stop
from xiaozhi_hub.celery import app as celery_app
from xiaozhi_hub.notifications.dispatch import Notification, notify
from xiaozhi_hub.notifications.models import NotificationChannel

BACKOFF = 1  # HUB_NOTIFY_RETRY_BACKOFF of the worker: retries after 1 s, 2 s, ...

FIRING = Notification(
    event="firing",
    key="alert:7",
    severity="warning",
    title={"en": "3 of 4 endpoints are down", "zh-hans": "4 个接入点中有 3 个已断开"},
    body={"en": "Healthy: 25 % (below 50 %).", "zh-hans": "健康比例 25 %，低于 50 %。"},
    url="/console/",
)


def wait_until(predicate, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(message)


@pytest.fixture
def worker(process_log_dir, transactional_db):
    log = process_log_dir / "worker.log"
    env = hub_env(
        DATABASE_URL=hub_database_url(),
        REDIS_URL=REDIS_URL,
        HUB_POOL_ENABLED="0",  # only the tasks: no endpoint pool in this worker
        HUB_NOTIFY_RETRY_BACKOFF=str(BACKOFF),
        HUB_NOTIFY_TIMEOUT="5",
        HUB_PUBLIC_URL="https://hub.example.com/",
    )
    command = [bin_path("celery"), "-A", "xiaozhi_hub", "worker", "--loglevel", "info"]
    process = start([*command, "--concurrency", "1", "-n", "notify@%h"], env, log)
    try:
        wait_until(
            lambda: " ready." in log.read_text(errors="replace"), 60, "the worker never got ready"
        )
        yield log
    finally:
        stop(process)


@pytest.mark.requires_services("mysql", "redis")
def test_the_webhook_gets_the_json_once_and_only_admitting_channels_are_queued(worker, receiver):
    hook = make_channel("hook", "webhook", {"url": receiver.url("/hook")}, language="en")
    make_channel(
        "off", "webhook", {"url": receiver.url("/off")}, enabled=False, min_severity="info"
    )
    make_channel("pager", "webhook", {"url": receiver.url("/pager")}, min_severity="critical")

    with transaction.atomic():
        assert notify(FIRING) == 1
        # Queued only once the caller's transaction commits.
        time.sleep(0.5)
        assert receiver.requests == []

    (request,) = receiver.wait_for(1)
    assert request.path == "/hook"
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    payload = request.json()
    sent_at = payload.pop("sent_at")
    assert payload == {
        "event": "firing",
        "key": "alert:7",
        "severity": "warning",
        "title": "3 of 4 endpoints are down",
        "body": "Healthy: 25 % (below 50 %).",
        "url": "https://hub.example.com/console/",
        "language": "en",
    }
    assert sent_at.endswith("+00:00")
    time.sleep(2 * BACKOFF + 1)  # longer than a retry would take
    assert len(receiver.requests) == 1
    hook.refresh_from_db()
    assert hook.last_success_at is not None and hook.consecutive_failures == 0


@pytest.mark.requires_services("mysql", "redis")
def test_a_failing_receiver_is_retried_with_backoff_and_the_channel_records_both(worker, receiver):
    receiver.statuses = [500, 200]
    channel = make_channel("hook", "webhook", {"url": receiver.url("/hook")})

    assert notify(FIRING) == 1
    receiver.wait_for(1)
    wait_until(
        lambda: NotificationChannel.objects.get().last_failure_at is not None,
        10,
        "the failure was not recorded",
    )
    channel.refresh_from_db()
    assert channel.consecutive_failures == 1
    assert channel.last_error == "the webhook answered HTTP 500 Internal Server Error"
    assert channel.last_success_at is None

    first, second = receiver.wait_for(2)
    assert second.at - first.at >= BACKOFF
    assert first.json()["key"] == second.json()["key"] == "alert:7"
    wait_until(
        lambda: NotificationChannel.objects.get().last_success_at is not None,
        10,
        "the success was not recorded",
    )
    channel.refresh_from_db()
    assert channel.consecutive_failures == 0
    assert channel.last_success_at > channel.last_failure_at
    time.sleep(2 * BACKOFF + 1)
    assert len(receiver.requests) == 2  # delivered: no more attempts
    assert "retry: Retry in 1s" in worker.read_text(errors="replace")


@pytest.fixture
def one_process_mode():
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


@pytest.mark.django_db(transaction=True)
def test_one_process_mode_delivers_in_a_thread_and_the_caller_does_not_wait(
    one_process_mode, receiver, settings
):
    settings.HUB_NOTIFY_RETRY_BACKOFF = BACKOFF
    receiver.delay = 2  # a slow robot
    receiver.statuses = [500, 200]
    make_channel("hook", "webhook", {"url": receiver.url("/hook")})

    started = time.monotonic()
    assert notify(FIRING) == 1
    assert time.monotonic() - started < 1

    first, second = receiver.wait_for(2, timeout=20)
    assert second.at - first.at >= 2 + BACKOFF  # the slow answer, then the backoff
    wait_until(
        lambda: NotificationChannel.objects.get().last_success_at is not None,
        10,
        "the success was not recorded",
    )
    assert NotificationChannel.objects.get().last_failure_at is not None
