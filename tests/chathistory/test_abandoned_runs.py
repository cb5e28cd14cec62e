"""A killed run is closed as `abandoned` once another run takes its claim (issue 13, item 9)."""

import os
import signal
import sys
import time

import pytest
from django.db import connection

from chathistory.models import RunStatus, SyncRun, SyncState
from chathistory.sync import run_sync
from tests.services import hub_env, start, stop

pytestmark = pytest.mark.requires_services("mysql")


def _wait_for(predicate, *, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"mysql://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 3306}/{db['NAME']}"


def test_a_sigkilled_run_is_abandoned_when_the_next_run_takes_its_claim(
    esp32, settings, process_log_dir
):
    conn = esp32.connect()
    for n in range(3000):
        esp32.insert(conn, session=f"s{n % 7}", content=f"row {n}")
    conn.commit()
    conn.close()
    # A real sync process, one row per batch so that it is still busy when it is killed.
    env = hub_env(DATABASE_URL=_database_url(), ESP32_DATABASE_URL=esp32.url)
    process = start(
        [sys.executable, "manage.py", "sync_chat_history", "--batch-size", "1", "--no-progress"],
        env,
        process_log_dir / "sync.log",
    )
    try:
        killed = _wait_for(
            lambda: SyncRun.objects.filter(status=RunStatus.IN_PROGRESS, rows_read__gt=0).first(),
            timeout=60,
            what="the sync process to copy its first rows",
        )
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        stop(process)
    assert SyncRun.objects.get(pk=killed.pk).status == RunStatus.IN_PROGRESS

    # While the claim is fresh the dead run cannot be told from a slow one: a tick skips.
    assert run_sync(trigger="test").status == RunStatus.SKIPPED
    assert SyncRun.objects.get(pk=killed.pk).status == RunStatus.IN_PROGRESS

    settings.HUB_SYNC_CLAIM_TIMEOUT = 1
    time.sleep(1.2)
    result = run_sync(trigger="test")
    assert result.status == RunStatus.SUCCESS, result.error
    dead = SyncRun.objects.get(pk=killed.pk)
    assert dead.status == RunStatus.ABANDONED
    assert dead.finished_at is not None
    assert f"run {result.run_id} took" in dead.error and "heartbeat" in dead.error
    assert not SyncRun.objects.filter(status=RunStatus.IN_PROGRESS).exists()
    assert SyncState.objects.get().cursor == 3000


def test_a_finished_or_live_run_is_never_marked_abandoned(esp32):
    esp32.write(content="one")
    first = run_sync(trigger="test")
    esp32.write(content="two")
    second = run_sync(trigger="test")
    assert [first.status, second.status] == [RunStatus.SUCCESS, RunStatus.SUCCESS]
    assert set(SyncRun.objects.values_list("status", flat=True)) == {RunStatus.SUCCESS}
