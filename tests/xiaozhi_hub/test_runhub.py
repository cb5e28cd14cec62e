"""One-process mode: `manage.py runhub` on SQLite and the in-memory channel layer."""

import asyncio
import json
import signal
import socket
import subprocess
import sys
import urllib.request

from tests.livesocket import next_frame, open_console
from tests.services import REPO, hub_env, run_in_hub, start_listening, stop

CREATE_STAFF_SESSION = """
from django.contrib.auth import get_user_model
from django.test import Client
user = get_user_model().objects.create_user(
    "laptop", password="pw", is_staff=True, is_superuser=True
)
client = Client()
client.force_login(user)
print(client.cookies["sessionid"].value)
"""


def runhub_args(port: int) -> list[str]:
    return [sys.executable, "manage.py", "runhub", "--port", str(port)]


# Stopping runhub, by design: daphne cancels its open application instances,
# the embedded beat wakes within its max_interval (1 s), the runtime gives its
# services up to 5 s (past that it logs "did not stop within" and stops its
# loop anyway). Those caps, plus 5 s for what no cap covers (daphne's
# cancellations, the interpreter's exit) on a shared 2-core box; then SIGKILL.
STOP_TIMEOUT = 1 + 5 + 5


def assert_stopped_by_itself(log: str) -> None:
    """No stage ran into its cap: every part stopped because it was told to."""
    assert "did not stop within" not in log  # the runtime's services
    assert "background runtime stopped" in log


def test_runhub_serves_health_and_console_broadcasts_and_stops_on_sigterm(
    tmp_path, process_log_dir
):
    env = hub_env(HUB_DATA_DIR=str(tmp_path), HUB_STATUS_INTERVAL="1")
    hub, port = start_listening(runhub_args, env, process_log_dir / "runhub.log")
    try:
        assert (tmp_path / "hub.sqlite3").exists()

        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=10) as response:
            body = json.load(response)
        assert response.status == 200 and body["status"] == "ok", body
        assert body["checks"]["database"]["detail"].startswith("sqlite")
        assert body["checks"]["channel_layer"]["detail"] == "in-memory (one process)"

        session = run_in_hub(CREATE_STAFF_SESSION, env)

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
        took, clean = stop(hub, timeout=STOP_TIMEOUT)
    assert clean and hub.returncode == 0, f"runhub took {took:.1f} s to stop (clean={clean})"
    log = (process_log_dir / "runhub.log").read_text()
    assert_stopped_by_itself(log)
    assert "is running at http://127.0.0.1:" in log and "createsuperuser" in log
    assert "xiaozhi-hub stopped." in log


def test_runhub_stops_cleanly_on_ctrl_c(tmp_path, process_log_dir):
    log = process_log_dir / "runhub.log"
    hub, _ = start_listening(runhub_args, hub_env(HUB_DATA_DIR=str(tmp_path)), log)
    took, clean = stop(hub, timeout=STOP_TIMEOUT, sig=signal.SIGINT)
    assert clean and hub.returncode == 0, f"runhub took {took:.1f} s to stop (clean={clean})"
    assert_stopped_by_itself(log.read_text())


def test_a_server_that_finds_its_port_taken_is_started_again_on_another(tmp_path, process_log_dir):
    """The race start_listening covers: the port chosen is taken before the child binds."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        busy_port = busy.getsockname()[1]
        chosen: list[int] = []

        def first_port_taken(port: int) -> list[str]:
            chosen.append(port)
            return runhub_args(busy_port if len(chosen) == 1 else port)

        log = process_log_dir / "runhub.log"
        hub, port = start_listening(first_port_taken, hub_env(HUB_DATA_DIR=str(tmp_path)), log)
    try:
        assert port == chosen[1] and len(chosen) == 2
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=10) as answer:
            assert answer.status == 200
    finally:
        stop(hub, timeout=STOP_TIMEOUT)
    busy_log = (process_log_dir / "runhub.port-in-use-1.log").read_text()
    assert f"Couldn't listen on 127.0.0.1:{busy_port}" in busy_log


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
