"""/api/health and hub_doctor see the background processes: pool workers and beat.

A Celery worker SIGKILLed while endpoints are enabled turns the answer
`degraded` (still 200), naming the reason, within two lease periods, and `ok`
again once a worker is back. A sync schedule that beat has not ticked for two
intervals does the same. `runhub` runs both in its own process and counts as
alive.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta

import pytest
import redis
from django.core.management import call_command
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from chathistory.schedule import SYNC_TASK_NAME, ensure_sync_schedule
from endpoints.models import Endpoint
from tests.chathistory.conftest import source_at  # noqa: F401 - a fixture
from tests.services import (
    REDIS_URL,
    REPO,
    bin_path,
    free_port,
    hub_database_url,
    hub_env,
    start,
    start_listening,
)
from tests.services import stop as stop_process

TTL = 3  # seconds (HUB_POOL_LEASE_TTL) in the test and in its workers
POLL = 0.2


def nothing_listens() -> str:
    return f"mysql://hub:pw@127.0.0.1:{free_port()}/xiaozhi_esp32_server"


def endpoint_url() -> str:
    return f"ws://127.0.0.1:{free_port()}/mcp/?token=not-a-real-token"


def health(client) -> dict:
    response = client.get("/api/health")
    assert response.status_code == 200, response.content  # degraded is still 200
    return response.json()


def wait_for_status(client, check: str, status: str, *, timeout: float) -> tuple[dict, float]:
    """Poll /api/health until `check` has `status`: (the body, seconds it took)."""
    started = time.monotonic()
    while True:
        body = health(client)
        if body["checks"][check]["status"] == status:
            return body, time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{check} never became {status} in {timeout} s: {body}")
        time.sleep(POLL)


def start_worker(env: dict, log) -> subprocess.Popen:
    args = ["worker", "--loglevel", "info", "--concurrency", "1"]
    return start([bin_path("celery"), "-A", "xiaozhi_hub", *args], env, log)


@pytest.mark.requires_services("mysql", "redis")
@pytest.mark.django_db(transaction=True)
def test_a_killed_pool_worker_makes_health_degraded_until_another_one_runs(
    client, settings, process_log_dir
):
    redis.Redis.from_url(REDIS_URL).flushdb()
    settings.HUB_POOL_LEASE_TTL = TTL
    env = hub_env(
        DATABASE_URL=hub_database_url(),
        REDIS_URL=REDIS_URL,
        HUB_POOL_LEASE_TTL=str(TTL),
        HUB_POOL_RECONCILE_INTERVAL="1",
    )
    Endpoint.objects.create(name="desk", url=endpoint_url())
    # Nothing holds the endpoint: once it is older than a lease, health says so.
    body, _ = wait_for_status(client, "pool_workers", "error", timeout=TTL + 5)
    assert body["status"] == "degraded"
    assert "no live pool worker" in body["checks"]["pool_workers"]["detail"]

    worker = start_worker(env, process_log_dir / "worker-1.log")
    try:
        body, _ = wait_for_status(client, "pool_workers", "ok", timeout=90)
        assert body["status"] == "ok", body
        assert body["reasons"] == []
        assert (
            "1 enabled endpoints held; 1 live pool worker"
            in body["checks"]["pool_workers"]["detail"]
        )

        os.killpg(worker.pid, signal.SIGKILL)  # the worker and its pool child, no goodbye
        killed = time.monotonic()
        body, _ = wait_for_status(client, "pool_workers", "error", timeout=4 * TTL)
        took = time.monotonic() - killed
        assert took <= 2 * TTL, f"degraded only {took:.1f} s after the kill"
        assert body["status"] == "degraded"
        check = body["checks"]["pool_workers"]
        assert check["required"] is False
        assert "1 endpoints enabled but no live pool worker holds them" in check["detail"]
        assert "the last heartbeat was" in check["detail"]
        assert body["reasons"] == [f"pool_workers: {check['detail']}"]

        out = io.StringIO()
        call_command("hub_doctor", stdout=out)  # degraded: reported, not a failure
        said = out.getvalue()
        assert "pool_workers" in said and "no live pool worker" in said
        assert "overall: degraded" in said
    finally:
        stop_process(worker, sig=signal.SIGKILL)

    again = start_worker(env, process_log_dir / "worker-2.log")
    try:
        body, _ = wait_for_status(client, "pool_workers", "ok", timeout=90)
        assert body["status"] == "ok", body
    finally:
        took, clean = stop_process(again)
    assert clean, f"the second worker did not stop cleanly ({took:.1f} s)"


@pytest.mark.django_db
def test_a_sync_schedule_beat_has_not_ticked_for_two_intervals_makes_health_degraded(
    client,
    source_at,  # noqa: F811 - the fixture imported above
):
    check = health(client)["checks"]["sync_schedule"]
    assert (check["status"], check["required"]) == ("not_configured", False), check
    source_at(nothing_listens())  # a source is configured (that it is down does not matter)
    ensure_sync_schedule()
    task = PeriodicTask.objects.get(name=SYNC_TASK_NAME)
    every = task.interval.every  # seconds (HUB_SYNC_INTERVAL)
    now = timezone.now()

    PeriodicTask.objects.filter(pk=task.pk).update(last_run_at=now - timedelta(seconds=3 * every))
    body = health(client)
    check = body["checks"]["sync_schedule"]
    assert (check["status"], check["required"]) == ("error", False)
    assert re.search(rf"ticked {SYNC_TASK_NAME} \d+ s ago, over two intervals", check["detail"])
    assert "celery -A xiaozhi_hub beat" in check["detail"]
    assert f"sync_schedule: {check['detail']}" in body["reasons"]
    assert body["status"] == "degraded"

    PeriodicTask.objects.filter(pk=task.pk).update(last_run_at=now - timedelta(seconds=every))
    check = health(client)["checks"]["sync_schedule"]
    assert check["status"] == "ok", check
    assert re.fullmatch(rf"last tick \d+ s ago \(every {every} s\)", check["detail"]), check

    # Never ticked since it was set up long ago: no beat has run.
    PeriodicTask.objects.filter(pk=task.pk).update(
        last_run_at=None, date_changed=now - timedelta(seconds=3 * every)
    )
    check = health(client)["checks"]["sync_schedule"]
    assert check["status"] == "error" and "has not ticked" in check["detail"], check

    PeriodicTask.objects.filter(pk=task.pk).update(enabled=False)
    check = health(client)["checks"]["sync_schedule"]
    assert check["status"] == "not_configured" and "disabled" in check["detail"], check


def test_runhub_counts_its_own_pool_and_beat_as_alive(tmp_path, process_log_dir):
    interval = 2  # seconds (HUB_SYNC_INTERVAL): two of them without a tick would be stale
    env = hub_env(
        HUB_DATA_DIR=str(tmp_path),
        HUB_SYNC_INTERVAL=str(interval),
        ESP32_DATABASE_URL=nothing_listens(),
    )
    manage = [sys.executable, "manage.py"]
    for command in (["migrate", "-v", "0"], ["endpoint_add", "desk", endpoint_url()]):
        subprocess.run(
            manage + command, cwd=REPO, env=env, check=True, capture_output=True, timeout=120
        )
    hub, port = start_listening(
        lambda port: [*manage, "runhub", "--port", str(port)], env, process_log_dir / "runhub.log"
    )

    def checks() -> dict:
        url = f"http://127.0.0.1:{port}/api/health"
        with urllib.request.urlopen(url, timeout=20) as response:
            return json.load(response)["checks"]

    try:
        deadline = time.monotonic() + 60
        while {checks()[name]["status"] for name in ("pool_workers", "sync_schedule")} != {"ok"}:
            assert time.monotonic() < deadline, checks()
            time.sleep(POLL)
        # Beat writes every tick (CELERY_BEAT_SYNC_EVERY): the schedule stays fresh.
        until = time.monotonic() + 3 * interval
        while time.monotonic() < until:
            seen = checks()
            for name in ("pool_workers", "sync_schedule"):
                assert seen[name]["status"] == "ok", seen[name]
            time.sleep(0.5)
    finally:
        took, clean = stop_process(hub, timeout=15)
    assert clean, f"runhub did not stop cleanly ({took:.1f} s)"
