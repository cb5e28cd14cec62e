"""The real services the tests talk to, and helpers to run hub processes.

Defaults are this machine's loopback services; HUB_TEST_MYSQL_URL and
HUB_TEST_REDIS_URL point the suite elsewhere.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
REQUIRE_SERVICES = os.environ.get("HUB_REQUIRE_SERVICES", "") == "1"

MYSQL_URL = os.environ.get("HUB_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/hub")
REDIS_URL = os.environ.get("HUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
SERVICE_URLS = {"mysql": MYSQL_URL, "redis": REDIS_URL}
SERVICE_LABELS = {"mysql": "MariaDB/MySQL", "redis": "Redis"}
# Not a network service, but installed by `make setup` and required in CI alike.
CHROMIUM = "/usr/bin/chromium"


@cache
def service_available(name: str) -> bool:
    if name == "chromium":
        return os.access(CHROMIUM, os.X_OK)
    parts = urlsplit(SERVICE_URLS[name])
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=1):
            return True
    except OSError:
        return False


def service_reason(name: str) -> str:
    if name == "chromium":
        return f"{CHROMIUM} is not installed (make setup installs it as root)"
    parts = urlsplit(SERVICE_URLS[name])
    return f"{SERVICE_LABELS[name]} is not reachable at {parts.hostname}:{parts.port}"


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, *, timeout: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listened on port {port} within {timeout} s")


def hub_env(**overrides: str) -> dict[str, str]:
    """Environment for a hub subprocess: production settings, nothing inherited by accident."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "ESP32_DATABASE_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="xiaozhi_hub.settings",
        SECRET_KEY=os.environ["SECRET_KEY"],
        PYTHONUNBUFFERED="1",
    )
    env.update(overrides)
    return env


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """Start a process in its own session so that it and its children can be found later."""
    handle = log.open("wb")
    return subprocess.Popen(
        args, cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )


def bin_path(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def stop(
    process: subprocess.Popen, *, timeout: float = 15, sig: int = signal.SIGTERM
) -> tuple[float, bool]:
    """Signal (SIGTERM by default), then wait for the whole process group to exit.

    Returns the seconds it took and whether it stopped by itself (False when
    anything in the group had to be SIGKILLed: a hang or a stray child).
    """
    started = time.monotonic()
    pgid = process.pid  # start_new_session: the group id is the leader's pid
    if process.poll() is None:
        process.send_signal(sig)
    try:
        process.wait(timeout)
        while group_alive(pgid) and time.monotonic() - started < timeout:
            time.sleep(0.05)
    except subprocess.TimeoutExpired:
        pass
    took = time.monotonic() - started
    clean = not group_alive(pgid)
    if not clean:
        os.killpg(pgid, signal.SIGKILL)
        process.wait()
    return took, clean


def documented_commands() -> dict[str, str]:
    """The production commands from the README's "Processes" block, by program."""
    readme = (REPO / "README.md").read_text()
    block = readme.split("<!-- process-commands -->", 1)[1].split("```sh\n", 1)[1]
    lines = block.split("```", 1)[0].strip().splitlines()
    commands = {"daphne": lines[0]}
    for line in lines[1:]:
        commands[line.split()[3]] = line  # celery -A xiaozhi_hub <worker|beat> ...
    return commands
