"""The production topology as real processes: daphne, Celery worker and beat on
MariaDB and Redis, and a console socket receiving what the worker broadcasts."""

import asyncio
import json
import subprocess
import sys
import urllib.request
import uuid

import pytest
import redis
from django_celery_beat.models import PeriodicTask
from websockets.exceptions import ConnectionClosed

from tests.livesocket import next_frame, open_console, staff_session_id
from tests.services import (
    REDIS_URL,
    REPO,
    bin_path,
    documented_commands,
    hub_database_url,
    hub_env,
    start,
    start_listening,
    stop,
)
from xiaozhi_hub.console.protocol import CLOSE_UNAUTHENTICATED
from xiaozhi_hub.tasks import broadcast_probe

pytestmark = [
    pytest.mark.requires_services("mysql", "redis"),
    pytest.mark.django_db(transaction=True),
]


def production_commands(port: int) -> dict[str, list[str]]:
    """The README's process commands, on loopback and a free port, from this venv."""
    commands = {}
    for name, line in documented_commands().items():
        args = line.replace("-b 0.0.0.0 -p 8000", f"-b 127.0.0.1 -p {port}").split()
        commands[name] = [bin_path(args[0]), *args[1:]]
    commands["worker"] += ["--concurrency", "1"]  # one pool child is enough here
    return commands


@pytest.fixture
def stack(process_log_dir, settings):
    redis.Redis.from_url(REDIS_URL).flushdb()
    env = hub_env(
        DATABASE_URL=hub_database_url(),
        REDIS_URL=REDIS_URL,
        HUB_CHANNEL_PREFIX=settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
        HUB_STATUS_INTERVAL="1",
        ALLOWED_HOSTS="127.0.0.1",
    )
    # daphne first, on a port it is sure to hold (start_listening); then the rest.
    daphne, port = start_listening(
        lambda port: production_commands(port)["daphne"], env, process_log_dir / "daphne.log"
    )
    processes = {"daphne": daphne}
    try:
        for name, command in production_commands(port).items():
            if name != "daphne":
                processes[name] = start(command, env, process_log_dir / f"{name}.log")
        yield port, processes, env
    finally:
        for process in processes.values():
            stop(process)


def test_worker_and_beat_broadcasts_reach_a_staff_console_on_daphne(stack, process_log_dir):
    port, processes, env = stack
    session_id = staff_session_id()

    async def scenario():
        # Anonymous sockets are closed with the documented code, over the real wire.
        anonymous = await open_console(port, None)
        with pytest.raises(ConnectionClosed) as closed:
            await anonymous.recv()
        assert closed.value.rcvd.code == CLOSE_UNAUTHENTICATED

        ws = await open_console(port, session_id)
        assert (await next_frame(ws, type="hello", timeout=10))["payload"]["user"] == "operator"

        # beat -> Redis -> worker -> channel layer -> daphne -> socket
        status = await next_frame(ws, type="hub_status", timeout=30)
        assert status["payload"]["worker"].startswith("celery@")

        # a task sent from this process -> Redis -> worker -> ... -> socket
        nonce = uuid.uuid4().hex
        broadcast_probe.delay(nonce)
        probe = await next_frame(ws, type="hub_probe", timeout=20, nonce=nonce)
        assert probe["id"] is None and probe["channel"] == "system"

        await ws.send(json.dumps({"id": "hb", "type": "heartbeat"}))
        assert (await next_frame(ws, type="heartbeat", timeout=5))["id"] == "hb"
        await ws.close()

    asyncio.run(scenario())

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=10) as response:
        body = json.load(response)
    assert response.status == 200 and body["status"] == "ok", body
    assert body["checks"]["broker"]["detail"] == REDIS_URL

    doctor = subprocess.run(
        [sys.executable, "manage.py", "hub_doctor", "--probe"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "round trip through worker celery@" in doctor.stdout

    # Beat's schedule is mirrored into the database, where the admin edits it.
    assert PeriodicTask.objects.filter(name="hub-status", enabled=True).exists()

    # Clean stop: every process and every child (prefork pool) is gone.
    for name, process in processes.items():
        took, clean = stop(process)
        assert clean, f"{name} (or a child of it) was still running {took:.1f} s after SIGTERM"
    worker_log = (process_log_dir / "worker.log").read_text()
    assert "background runtime started" in worker_log
    assert "background runtime stopped" in worker_log
