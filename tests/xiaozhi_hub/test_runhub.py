"""One-process mode: `manage.py runhub` on SQLite and the in-memory channel layer."""

import asyncio
import json
import signal
import socket
import subprocess
import sys
import urllib.request

from tests.livesocket import next_frame, open_console
from tests.services import REPO, free_port, hub_env, start, stop, wait_for_port

CREATE_STAFF_SESSION = """
from django.contrib.auth import get_user_model
from django.test import Client
user = get_user_model().objects.create_user("laptop", password="pw", is_staff=True)
client = Client()
client.force_login(user)
print(client.cookies["sessionid"].value)
"""


def test_runhub_serves_health_and_console_broadcasts_and_stops_on_sigterm(
    tmp_path, process_log_dir
):
    port = free_port()
    env = hub_env(HUB_DATA_DIR=str(tmp_path), HUB_STATUS_INTERVAL="1")
    hub = start(
        [sys.executable, "manage.py", "runhub", "--port", str(port)],
        env,
        process_log_dir / "runhub.log",
    )
    try:
        wait_for_port(port, timeout=60, process=hub)
        assert (tmp_path / "hub.sqlite3").exists()

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=10) as response:
            body = json.load(response)
        assert response.status == 200 and body["status"] == "ok", body
        assert body["checks"]["database"]["detail"].startswith("sqlite")
        assert body["checks"]["channel_layer"]["detail"] == "in-memory (one process)"

        session = subprocess.run(
            [sys.executable, "manage.py", "shell", "-v", "0", "-c", CREATE_STAFF_SESSION],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()

        async def receive_scheduled_broadcast():
            ws = await open_console(port, session)
            await next_frame(ws, type="hello", timeout=10)
            # The embedded beat runs the task in-process; the event hops onto
            # the server's loop and reaches the socket.
            status = await next_frame(ws, type="hub_status", timeout=15)
            await ws.close()
            return status

        status = asyncio.run(receive_scheduled_broadcast())
        assert status["payload"]["worker"].startswith("runhub@")
    finally:
        took, clean = stop(hub, timeout=10)
    assert clean and took < 5, f"runhub took {took:.1f} s to stop (clean={clean})"
    assert hub.returncode == 0
    log = (process_log_dir / "runhub.log").read_text()
    assert "is running at http://127.0.0.1:" in log and "createsuperuser" in log
    assert "xiaozhi-hub stopped." in log


def test_runhub_stops_cleanly_on_ctrl_c(tmp_path, process_log_dir):
    port = free_port()
    hub = start(
        [sys.executable, "manage.py", "runhub", "--port", str(port)],
        hub_env(HUB_DATA_DIR=str(tmp_path)),
        process_log_dir / "runhub.log",
    )
    wait_for_port(port, timeout=60, process=hub)
    took, clean = stop(hub, timeout=10, sig=signal.SIGINT)
    assert clean and took < 5 and hub.returncode == 0


def test_runhub_on_a_busy_port_says_so(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "manage.py", "runhub", "--port", str(port)],
            cwd=REPO,
            env=hub_env(HUB_DATA_DIR=str(tmp_path)),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"could not listen on 127.0.0.1:{port} (is the port in use?)" in result.stderr
