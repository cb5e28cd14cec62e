"""Console fan-out: 500 sockets on daphne + Redis layer, 100 chat_update events.

    make bench NAME=console_fanout
    (= .venv/bin/python -m bench.console_fanout [--sockets 500] [--events 100])

Starts the documented daphne command on a fresh SQLite database (the console
reads no rows while fanning out) and the Redis channel layer, opens the
sockets with a staff API token, subscribes each to `chat`, then publishes
events through the broadcast helper from this process (as a Celery worker
would) and measures, per delivered frame, the time from publish to receipt.
Memory per socket is daphne's RSS growth divided by the number of sockets.
Needs Redis (REDIS_URL, default redis://127.0.0.1:6379/0; keys use a unique prefix).
BENCH_PROFILE=/tmp/daphne.prof runs daphne under cProfile (read it with pstats).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from websockets.asyncio.client import connect

REPO = Path(__file__).resolve().parent.parent
TARGET_P99_MS = 300


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"daphne exited with {process.returncode}; see its log")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"daphne did not listen on {port} within {timeout} s")


def hub_env(workdir: Path, redis_url: str, sockets: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "ESP32_DATABASE_URL"}}
    env.update(
        DJANGO_SETTINGS_MODULE="xiaozhi_hub.settings",
        SECRET_KEY=secrets.token_urlsafe(32),
        DATABASE_URL=f"sqlite:///{workdir / 'hub.sqlite3'}",
        REDIS_URL=redis_url,
        HUB_CHANNEL_PREFIX=f"bench{secrets.token_hex(4)}",
        ALLOWED_HOSTS="127.0.0.1",
        HUB_CONSOLE_MAX_SUBSCRIBERS=str(sockets + 10),
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    return env


CREATE_TOKEN = """
from django.contrib.auth import get_user_model
from xiaozhi_hub.access.tokens import api_token_create
user = get_user_model().objects.create_user("bench", is_staff=True)
print(api_token_create(user=user))
"""


def prepare(env: dict[str, str]) -> str:
    manage = [sys.executable, "manage.py"]
    run = {"cwd": REPO, "env": env, "check": True, "capture_output": True, "text": True}
    subprocess.run([*manage, "migrate", "-v", "0"], **run)
    return subprocess.run([*manage, "shell", "-v", "0", "-c", CREATE_TOKEN], **run).stdout.strip()


class Socket:
    def __init__(self, port: int, token: str):
        self.port, self.token = port, token
        self.received: dict[int, float] = {}  # event number -> monotonic receive time

    async def open(self) -> None:
        self.ws = await connect(
            f"ws://127.0.0.1:{self.port}/ws/console/",
            origin=f"http://127.0.0.1:{self.port}",
            additional_headers={"Authorization": f"Token {self.token}"},
            open_timeout=30,
            max_queue=None,
        )
        await self._until("hello")
        await self.ws.send(
            json.dumps({"id": "s", "type": "subscribe", "payload": {"channel": "chat"}})
        )
        await self._until("chat:snapshot")

    async def _until(self, kind: str) -> None:
        while json.loads(await self.ws.recv())["type"] != kind:
            pass

    async def read(self) -> None:
        async for raw in self.ws:
            now = time.monotonic()
            frame = json.loads(raw)
            if frame["type"] == "chat_update":
                self.received[frame["payload"]["messages"][0]["id"]] = now


def chat_update(number: int) -> dict:
    message = {
        "id": number,
        "source_id": None,
        "device": "bench",
        "device_pk": 1,
        "session_id": "bench",
        "agent_id": None,
        "role": "agent",
        "content": f"消息 {number} 🚀",
        "speaker": None,
        "tool_name": None,
        "tool_arguments": None,
        "created_at": "2026-01-01T00:00:00.000+00:00",
    }
    return {"device": "bench", "device_pk": 1, "messages": [message]}


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


async def scenario(
    port: int, token: str, daphne: psutil.Process, sockets: int, events: int, interval: float
):
    from xiaozhi_hub.broadcast import CHAT, abroadcast

    warm = Socket(port, token)  # load every code path before the baseline
    await warm.open()
    await warm.ws.close()
    await asyncio.sleep(0.5)
    rss_before = daphne.memory_info().rss

    started = time.monotonic()
    clients = [Socket(port, token) for _ in range(sockets)]
    gate = asyncio.Semaphore(50)

    async def open_one(client: Socket) -> None:
        async with gate:
            await client.open()

    await asyncio.gather(*(open_one(c) for c in clients))
    open_seconds = time.monotonic() - started
    await asyncio.sleep(1)
    rss_after = daphne.memory_info().rss

    readers = [asyncio.create_task(c.read()) for c in clients]
    sent: dict[int, float] = {}
    me = psutil.Process()
    cpu_before = cpu_seconds(daphne), cpu_seconds(me)
    for number in range(1, events + 1):
        sent[number] = time.monotonic()
        await abroadcast(CHAT, "chat_update", chat_update(number))
        await asyncio.sleep(interval)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and sum(len(c.received) for c in clients) < sockets * events:
        await asyncio.sleep(0.1)
    cpu = cpu_seconds(daphne) - cpu_before[0], cpu_seconds(me) - cpu_before[1]
    for client in clients:
        await client.ws.close()
    for reader in readers:
        reader.cancel()
    latencies = sorted(
        (at - sent[number]) * 1000 for c in clients for number, at in c.received.items()
    )
    return latencies, open_seconds, rss_before, rss_after, cpu


def percentile(values: list[float], fraction: float) -> float:
    return values[min(len(values) - 1, int(round(fraction * (len(values) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=500)
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--interval-ms", type=float, default=100, help="between two events")
    args = parser.parse_args()
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

    with tempfile.TemporaryDirectory(prefix="console-fanout-") as tmp:
        workdir = Path(tmp)
        env = hub_env(workdir, redis_url, args.sockets)
        token = prepare(env)
        # This process publishes as a worker would: same database, Redis and prefix.
        shared = ("DJANGO_SETTINGS_MODULE", "SECRET_KEY", "DATABASE_URL", "REDIS_URL")
        os.environ.update({k: env[k] for k in (*shared, "HUB_CHANNEL_PREFIX")})
        import django

        django.setup()
        port = free_port()
        daphne_bin = str(Path(sys.executable).parent / "daphne")
        with (workdir / "daphne.log").open("wb") as log:
            profile = os.environ.get("BENCH_PROFILE")  # a path: cProfile daphne into it
            wrapper = [sys.executable, "-m", "cProfile", "-o", profile] if profile else []
            daphne = [daphne_bin, "-b", "127.0.0.1", "-p", str(port)]
            process = subprocess.Popen(
                [*wrapper, *daphne, "xiaozhi_hub.asgi:application"],
                cwd=REPO,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                wait_for_port(port, process)
                result = asyncio.run(
                    scenario(
                        port,
                        token,
                        psutil.Process(process.pid),
                        args.sockets,
                        args.events,
                        args.interval_ms / 1000,
                    )
                )
            finally:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(15)
        latencies, open_seconds, rss_before, rss_after, cpu = result

    expected = args.sockets * args.events
    p99 = percentile(latencies, 0.99) if latencies else float("nan")
    rows = [
        ("sockets open (subscribed to chat)", f"{args.sockets}"),
        ("time to open + subscribe all", f"{open_seconds:.1f} s"),
        ("chat_update events published", f"{args.events} (every {args.interval_ms:g} ms)"),
        ("frames delivered", f"{len(latencies)} / {expected}"),
        ("delivery latency p50", f"{percentile(latencies, 0.5):.1f} ms" if latencies else "—"),
        ("delivery latency p99", f"{p99:.1f} ms (target ≤ {TARGET_P99_MS} ms)"),
        ("delivery latency max", f"{latencies[-1]:.1f} ms" if latencies else "—"),
        ("mean latency", f"{statistics.fmean(latencies):.1f} ms" if latencies else "—"),
        ("daphne RSS before → after", f"{rss_before / 2**20:.1f} → {rss_after / 2**20:.1f} MiB"),
        ("CPU while fanning out: daphne", f"{cpu[0]:.1f} s"),
        ("CPU while fanning out: the 500 clients", f"{cpu[1]:.1f} s (this process)"),
        ("load average (1 min) at the end", f"{os.getloadavg()[0]:.2f}"),
        ("memory per open socket", f"{(rss_after - rss_before) / args.sockets / 1024:.1f} KiB"),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"\nConsole fan-out (daphne + Redis channel layer, {os.cpu_count()} CPUs)\n")
    print(f"| {'measure'.ljust(width)} | value |")
    print(f"|{'-' * (width + 2)}|-------|")
    for name, value in rows:
        print(f"| {name.ljust(width)} | {value} |")
    verdict = "met" if p99 <= TARGET_P99_MS and len(latencies) == expected else "NOT met"
    print(f"\np99 target {verdict}.")


if __name__ == "__main__":
    main()
