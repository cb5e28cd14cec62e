"""The one-process hub keeps its history in SQLite: the sync's raw upserts work there too."""

import sqlite3
import subprocess
import sys

import pytest

from tests.services import REPO, hub_env

pytestmark = pytest.mark.requires_services("mysql")


def manage(*args, env, log):
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, timeout=120
    )
    log.write_bytes(result.stdout + result.stderr)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    return result.stdout.decode()


def test_sync_into_a_sqlite_hub(esp32, tmp_path, process_log_dir):
    for i in range(7):
        esp32.write(
            mac=f"aa:bb:cc:dd:ee:{i % 2:02d}",
            session=f"s{i % 3}",
            chat_type=1 + i % 2,
            content=f"line {i} 🙂 'quoted'",
            created_at=f"2025-03-01 10:00:0{i}.250",
        )
    esp32.write(
        mac="aa:bb:cc:dd:ee:00",
        session="s0",
        chat_type=3,
        content='[{"type": "tool", "text": "get_time({})"}]',
    )
    database = tmp_path / "hub.sqlite3"
    env = hub_env(
        DATABASE_URL=f"sqlite:///{database}",
        ESP32_DATABASE_URL=esp32.url,
        HUB_DATA_DIR=str(tmp_path),
    )
    manage("migrate", "--verbosity", "0", env=env, log=process_log_dir / "migrate.log")

    sync = ["sync_chat_history", "--no-progress"]
    out = manage(*sync, "--batch-size", "3", env=env, log=process_log_dir / "sync.log")
    assert "success: read 8, written 8" in out
    # A full resync upserts every row again (ON CONFLICT DO UPDATE): still one copy each.
    out = manage(*sync, "--full", env=env, log=process_log_dir / "resync.log")
    assert "success: read 8, written 8" in out

    db = sqlite3.connect(database)
    messages = db.execute(
        "SELECT source_id, role, content, tool_name, tool_arguments, created_at "
        "FROM chathistory_chatmessage ORDER BY source_id"
    ).fetchall()
    assert [m[0] for m in messages] == list(range(1, 9))
    assert messages[0][1:3] == ("user", "line 0 🙂 'quoted'")
    assert messages[0][5] == "2025-03-01 10:00:00.250000"
    assert messages[7][1:5] == ("tool", "get_time({})", "get_time", "{}")
    devices = dict(db.execute("SELECT mac, message_count FROM chathistory_device").fetchall())
    assert devices == {"aa:bb:cc:dd:ee:00": 5, "aa:bb:cc:dd:ee:01": 3}
    sessions = db.execute("SELECT SUM(message_count), COUNT(*) FROM chathistory_chatsession")
    assert sessions.fetchone() == (8, 6)  # s0..s2 on both devices: one session per device each
