"""The real services the tests talk to, and helpers to run hub processes.

Defaults are this machine's loopback services; HUB_TEST_MYSQL_URL and
HUB_TEST_REDIS_URL point the suite elsewhere. Under pytest-xdist (`make test` runs
two workers) each worker gets its own MariaDB names and Redis database, so one
worker's `flushdb()` or source database never touches the other's.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import pytest

REPO = Path(__file__).resolve().parent.parent
REQUIRE_SERVICES = os.environ.get("HUB_REQUIRE_SERVICES", "") == "1"

# "gw0", "gw1", ... in a pytest-xdist worker; "" in a plain run.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
REDIS_DATABASES = 16  # Redis's default `databases`


def for_this_worker(mysql_url: str, redis_url: str) -> tuple[str, str]:
    """The service URLs of this xdist worker: the database name suffixed with the
    worker's name (the source and backup databases are named after it), and the
    Redis database counted down from the configured one (15 → 14, 13, ...)."""
    if not XDIST_WORKER:
        return mysql_url, redis_url
    index = int(XDIST_WORKER.removeprefix("gw"))
    mysql = urlsplit(mysql_url)
    mysql_url = mysql._replace(path=f"{mysql.path.rstrip('/') or '/hub'}_{XDIST_WORKER}").geturl()
    redis_parts = urlsplit(redis_url)
    base = int(redis_parts.path.strip("/") or 0)
    redis_url = redis_parts._replace(path=f"/{(base - 1 - index) % REDIS_DATABASES}").geturl()
    return mysql_url, redis_url


MYSQL_URL, REDIS_URL = for_this_worker(
    os.environ.get("HUB_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/hub"),
    os.environ.get("HUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/15"),
)
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


def require_services(*names: str) -> None:
    """The `requires_services` rule (markers and fixtures alike): skip, or fail under
    HUB_REQUIRE_SERVICES=1, when a service is not reachable."""
    missing = [service_reason(name) for name in names if not service_available(name)]
    if missing and REQUIRE_SERVICES:
        pytest.fail("HUB_REQUIRE_SERVICES=1 but " + "; ".join(missing))
    if missing:
        pytest.skip("; ".join(missing))


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released).

    Another process may take it before a child binds it: start servers with
    `start_listening`, which retries on another port when that happens.
    """
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
        HUB_BUILTIN_TOOLS="1",  # as tests/settings.py: tests use hub__echo / hub__status
    )
    env.update(overrides)
    return env


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """Start a process in its own session so that it and its children can be found later."""
    _default_sigint_for_children()
    handle = log.open("wb")
    return subprocess.Popen(
        args, cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )


def _default_sigint_for_children() -> None:
    """Children get Ctrl-C (SIGINT) as a terminal gives it, whoever runs the tests.

    A shell starts background jobs (`make test &`, some CI runners) with SIGINT
    ignored, an ignored signal stays ignored across fork and exec, and Python and
    Twisted then install no handler: a SIGINT test could never stop its child. A
    handled signal reverts to the default on exec, so handle it here (as Python
    does by default), from the main thread, the only one allowed to.
    """
    if (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    ):
        signal.signal(signal.SIGINT, signal.default_int_handler)


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


def listens(process: subprocess.Popen, port: int) -> bool:
    """True when `process` or one of its children has a loopback socket listening on `port`."""
    try:
        leader = psutil.Process(process.pid)
        for member in [leader, *leader.children(recursive=True)]:
            for conn in member.net_connections(kind="tcp"):
                if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port:
                    return True
    except psutil.Error:
        pass
    return False


ADDRESS_IN_USE = ("address already in use", "port in use")  # Twisted/daphne, runhub


def celery_worker(name: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    """A real `celery -A xiaozhi_hub worker` named `name`, one task at a time."""
    command = [bin_path("celery"), "-A", "xiaozhi_hub", "worker", "--loglevel", "info"]
    return start([*command, "--concurrency", "1", "-n", f"{name}@%h"], env, log)


def start_listening(
    args: Callable[[int], list[str]],
    env: dict[str, str],
    log: Path,
    *,
    timeout: float = 60,
    attempts: int = 5,
) -> tuple[subprocess.Popen, int]:
    """Start a server on a free port and wait until IT listens there; (process, port).

    `args(port)` is the command line. A port found free can be taken by another
    process before the child binds it; the child then says "address in use" and
    exits, and it is started again on another port (the busy attempt's log is
    kept next to `log`). Readiness is the child's own listening socket, so a
    stranger listening on the port is never mistaken for it.
    """
    for attempt in range(1, attempts + 1):
        port = free_port()
        command = args(port)
        process = start(command, env, log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if listens(process, port):
                return process, port
            text = log.read_text(errors="replace").lower()
            if process.poll() is not None or any(sign in text for sign in ADDRESS_IN_USE):
                break
            time.sleep(0.1)
        else:
            stop(process)
            raise TimeoutError(f"{command[:3]} did not listen on {port} within {timeout} s")
        stop(process)
        text = log.read_text(errors="replace")
        if not any(sign in text.lower() for sign in ADDRESS_IN_USE):
            raise RuntimeError(
                f"{command[:3]} exited with {process.returncode} before listening:\n" + text[-2000:]
            )
        log.rename(log.with_name(f"{log.stem}.port-in-use-{attempt}{log.suffix}"))
    raise RuntimeError(f"no free port held still in {attempts} attempts")


def documented_commands() -> dict[str, str]:
    """The production commands from the README's "Processes" block, by program."""
    readme = (REPO / "README.md").read_text()
    block = readme.split("<!-- process-commands -->", 1)[1].split("```sh\n", 1)[1]
    lines = block.split("```", 1)[0].strip().splitlines()
    commands = {"daphne": lines[0]}
    for line in lines[1:]:
        commands[line.split()[3]] = line  # celery -A xiaozhi_hub <worker|beat> ...
    return commands


def api_token(user) -> str:
    """A new API token's key for `user` (the `Authorization: Token <key>` header).

    Tests get tokens only through here, so how the hub stores them can change
    in one place.
    """
    from xiaozhi_hub.access.tokens import api_token_create

    return api_token_create(user=user)


def hub_database_url() -> str:
    """The URL of this test process's MariaDB test database, for the hubs a test starts."""
    from django.db import connection

    db = connection.settings_dict
    return f"mysql://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 3306}/{db['NAME']}"


def run_in_hub(code: str, env: dict[str, str]) -> str:
    """Run Python `code` in `manage.py shell` with the hub's `env`; what it printed, stripped."""
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", code],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
