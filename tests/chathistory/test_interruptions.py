"""A sync interrupted at every stage loses nothing and duplicates nothing on the rerun."""

import os
import signal
import subprocess
import sys
import time

import pytest
from django.db import connection

from chathistory.models import ChatMessage, SyncRun, SyncState
from chathistory.sources.esp32 import Esp32Source
from chathistory.sync import run_sync
from tests.services import REPO, hub_env

pytestmark = pytest.mark.requires_services("mysql")


def seed(source, count, *, devices=5):
    conn = source.connect()
    cursor = conn.cursor()
    cursor.executemany(
        "INSERT INTO ai_agent_chat_history (mac_address, agent_id, session_id, chat_type, content) "
        "VALUES (%s, 'agent1', %s, %s, %s)",
        [
            (f"aa:bb:cc:dd:ee:{i % devices:02d}", f"s{i % 17}", 1 + i % 2, f"m{i} 🙂")
            for i in range(count)
        ],
    )
    conn.commit()
    conn.close()


def assert_exact_copy(source, count):
    ids = list(ChatMessage.objects.order_by("source_id").values_list("source_id", flat=True))
    assert ids == [row[0] for row in source.rows()] and len(ids) == count
    for state in SyncState.objects.all():
        assert state.cursor == count


def test_source_connection_killed_mid_run(esp32, monkeypatch):
    seed(esp32, 500)
    original, calls = Esp32Source.rows_after, []

    def rows_after(self, cursor, limit):
        calls.append(cursor)
        if len(calls) == 3:  # the source server drops us in the middle of the run
            esp32.execute(f"KILL {self.connection_id()}")
        return original(self, cursor, limit)

    monkeypatch.setattr(Esp32Source, "rows_after", rows_after)
    failed = run_sync(batch_size=100, trigger="test")
    assert failed.status == "failed" and "OperationalError" in failed.error
    state = SyncState.objects.get()
    assert (state.status, state.cursor, ChatMessage.objects.count()) == ("failed", 200, 200)
    assert "OperationalError" in state.last_error
    assert SyncRun.objects.get(pk=failed.run_id).error == failed.error

    monkeypatch.setattr(Esp32Source, "rows_after", original)
    connection_ = __import__("django.db", fromlist=["connections"]).connections["esp32"]
    connection_.close()
    assert run_sync(batch_size=100, trigger="test").status == "success"
    assert_exact_copy(esp32, 500)


def test_hub_database_error_on_write(esp32):
    seed(esp32, 300)
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TRIGGER refuse_row_250 BEFORE INSERT ON chathistory_chatmessage FOR EACH ROW "
            "BEGIN IF NEW.source_id = 250 THEN SIGNAL SQLSTATE '45000' "
            "SET MESSAGE_TEXT = 'disk full (simulated by a trigger)'; END IF; END"
        )
    try:
        failed = run_sync(batch_size=100, trigger="test")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER refuse_row_250")
    assert failed.status == "failed" and "disk full" in failed.error
    assert SyncState.objects.get().cursor == 200 and ChatMessage.objects.count() == 200
    assert run_sync(batch_size=100, trigger="test").status == "success"
    assert_exact_copy(esp32, 300)


def test_worker_killed_between_batches(esp32, settings, process_log_dir):
    seed(esp32, 4000)
    db = connection.settings_dict
    hub_url = f"mysql://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 3306}/{db['NAME']}"
    env = hub_env(
        DATABASE_URL=hub_url, ESP32_DATABASE_URL=esp32.url, HUB_DATA_DIR=str(process_log_dir)
    )
    log = (process_log_dir / "sync.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "sync_chat_history", "--batch-size", "50", "--no-progress"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = SyncState.objects.filter(cursor__gt=500).first()
        if state is not None or process.poll() is not None:
            break
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    state = SyncState.objects.get()
    assert state.status == "in_progress" and 0 < state.cursor < 4000, "killed too late"
    assert ChatMessage.objects.count() == state.cursor  # whole batches only

    # The dead worker's claim blocks the next tick until it is stale...
    assert run_sync(trigger="test").status == "skipped"
    settings.HUB_SYNC_CLAIM_TIMEOUT = 5
    SyncState.objects.update(claimed_at=state.claimed_at.replace(year=2000))
    # ...then the rerun carries on from the last committed batch.
    assert run_sync(trigger="test").status == "success"
    assert_exact_copy(esp32, 4000)
