"""manager-api REST source sync benchmark: `make bench NAME=manager_api_sync`.

A local manager-api (tests/chathistory/manager_api_server.py, in its own process so
its JSON work does not share this process's interpreter lock) serves BENCH_MESSAGES
(default 100,000) messages: 10 agents, sessions of 20 messages, 500 devices, the
text mixed Chinese and English. Measured on this machine, into an empty hub on
MariaDB (database hub_bench_manager_api, created, migrated and dropped):

* the first copy (every session fetched): messages/s, sessions/s, HTTP requests;
* an idle tick (nothing changed): time and requests (the first session page of
  each agent);
* an incremental tick after 1 % of the sessions grew by 2 messages and 50 new
  sessions appeared: time, messages copied, requests;
* a full run (every session read again, nothing new): messages/s of re-reading;

and checks that the hub holds exactly the server's messages (no loss, no duplicate).
"""

from __future__ import annotations

import multiprocessing
import os
import random
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

MYSQL = os.environ.get("BENCH_MYSQL_URL", "mysql://root@127.0.0.1:3306")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/2")
MESSAGES = int(os.environ.get("BENCH_MESSAGES", "100000"))
PER_SESSION = 20
AGENTS = 10
DEVICES = 500
HUB_DB = "hub_bench_manager_api"

os.environ.update(
    DJANGO_SETTINGS_MODULE="xiaozhi_hub.settings",
    SECRET_KEY="bench-only",
    DATABASE_URL=f"{MYSQL}/{HUB_DB}",
    REDIS_URL=REDIS,
    HUB_CHANNEL_PREFIX="hubbenchma",
    ALLOWED_HOSTS="testserver,localhost",
    LOG_LEVEL="WARNING",
)
os.environ.pop("ESP32_DATABASE_URL", None)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.chathistory.manager_api_server import ManagerApiServer, Message  # noqa: E402

T0 = datetime(2026, 5, 1, 8, 0, 0)
WORDS = [
    "你好",
    "今天天气怎么样",
    "hello",
    "🙂",
    "讲个故事吧",
    "the weather is fine",
    "好的",
    "打开灯",
]


def _text(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 30)))


def _serve(conn) -> None:
    """The server process: seed, serve, and grow sessions when asked."""
    rng = random.Random(7)
    server = ManagerApiServer(tokens=("bench-token",))
    for a in range(AGENTS):
        server.add_agent(f"agent{a:02d}", f"Agent {a}")
    sessions = MESSAGES // PER_SESSION
    for s in range(sessions):
        agent, device = f"agent{s % AGENTS:02d}", s % DEVICES
        mac = f"aa:bb:cc:00:{device // 256:02x}:{device % 256:02x}"
        start = T0 + timedelta(seconds=30 * s)
        for i in range(PER_SESSION):
            moment = start + timedelta(seconds=i)
            server.add_message(agent, f"sess-{s}", Message(moment, 1 + i % 2, _text(rng), mac))
    server.start()
    conn.send(server.url)
    while True:
        command = conn.recv()
        if command == "stop":
            server.stop()
            conn.send("stopped")
            return
        grown, new = command
        later = T0 + timedelta(days=30)
        for s in rng.sample(range(sessions), grown):
            for i in range(2):
                message = Message(
                    later + timedelta(seconds=i), 1 + i, _text(rng), "aa:bb:cc:00:00:01"
                )
                server.add_message(f"agent{s % AGENTS:02d}", f"sess-{s}", message)
        for n in range(new):
            for i in range(PER_SESSION):
                message = Message(
                    later + timedelta(seconds=i), 1 + i % 2, _text(rng), "aa:bb:cc:00:00:02"
                )
                server.add_message(f"agent{n % AGENTS:02d}", f"new-{n}", message)
        conn.send(sum(len(m) for m in server.history.values()))


def create_hub_database() -> None:
    import MySQLdb

    from tests.chathistory.source_schema import SourceDatabase

    server = SourceDatabase(f"{MYSQL}/{HUB_DB}").server
    conn = MySQLdb.connect(**server)
    conn.cursor().execute(f"DROP DATABASE IF EXISTS {HUB_DB}")
    conn.cursor().execute(f"CREATE DATABASE {HUB_DB} CHARACTER SET utf8mb4")
    conn.close()


def drop_hub_database() -> None:
    import MySQLdb

    from tests.chathistory.source_schema import SourceDatabase

    conn = MySQLdb.connect(**SourceDatabase(f"{MYSQL}/{HUB_DB}").server)
    conn.cursor().execute(f"DROP DATABASE IF EXISTS {HUB_DB}")
    conn.close()


def main() -> None:
    create_hub_database()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from chathistory.models import ChatMessage, Source, SourceKind
    from chathistory.sources.manager_api import ManagerApiClient
    from chathistory.sync.manager_api import run_manager_api_sync

    ours, theirs = multiprocessing.get_context("fork").Pipe()
    seeding = time.monotonic()
    child = multiprocessing.get_context("fork").Process(target=_serve, args=(theirs,), daemon=True)
    child.start()
    url = ours.recv()
    seeded = time.monotonic() - seeding
    source = Source.objects.create(
        key="bench", kind=SourceKind.MANAGER_API, url=url, token="bench-token"
    )
    rows: list[tuple[str, str, str]] = []

    def timed(label: str, **kwargs):
        client = ManagerApiClient.for_source(source)
        started = time.monotonic()
        result = run_manager_api_sync(source, trigger="bench", client=client, **kwargs)
        took = time.monotonic() - started
        client.close()
        if result.status != "success" or result.error:
            raise SystemExit(f"{label}: {result.status} {result.error}")
        return result, took, client.requests

    try:
        first, took, requests = timed("first copy")
        sessions = MESSAGES // PER_SESSION
        rows.append(
            (
                "first copy",
                f"{first.rows_written / took:,.0f} msg/s",
                f"{first.rows_written:,} messages, {sessions:,} sessions "
                f"({sessions / took:,.0f}/s), {requests:,} requests, {took:.1f} s",
            )
        )
        idle, took, requests = timed("idle tick")
        rows.append(
            ("idle tick", f"{took * 1000:,.0f} ms", f"{requests} requests, {idle.rows_read} read")
        )
        grown = max(1, sessions // 100)
        ours.send((grown, 50))
        total = ours.recv()
        inc, took, requests = timed("incremental")
        rows.append(
            (
                "incremental tick",
                f"{took * 1000:,.0f} ms",
                f"{grown} grown + 50 new sessions: {inc.rows_written:,} messages written "
                f"({inc.rows_read:,} read), {requests} requests",
            )
        )
        full, took, requests = timed("full re-read", full=True)
        rows.append(
            (
                "full re-read",
                f"{full.rows_read / took:,.0f} msg/s",
                f"{full.rows_read:,} messages read again, 0 new, {requests:,} requests, "
                f"{took:.1f} s",
            )
        )
        held = ChatMessage.objects.filter(source="bench").count()
        distinct = ChatMessage.objects.filter(source="bench").values("source_id").distinct().count()
        verdict = "exact" if held == distinct == total else "MISMATCH"
        rows.append(
            ("hub vs server", verdict, f"hub {held:,} (distinct {distinct:,}), server {total:,}")
        )
    finally:
        ours.send("stop")
        ours.recv()
        child.join(timeout=10)
        from django.db import connections

        connections.close_all()
        drop_hub_database()
    width = max(len(name) for name, _, _ in rows)
    print(
        f"\nmanager-api REST source sync, {MESSAGES:,} messages "
        f"(server seeded in {seeded:.1f} s, {os.cpu_count()} cores)\n"
    )
    print(f"{'measure':<{width}}  {'result':<14}  detail")
    print(f"{'-' * width}  {'-' * 14}  {'-' * 60}")
    for name, value, detail in rows:
        print(f"{name:<{width}}  {value:<14}  {detail}")


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    main()
