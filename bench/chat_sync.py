"""Chat-history sync benchmark: `make bench NAME=chat_sync`.

Seeds a xiaozhi-esp32-server source database with BENCH_ROWS (default
1,000,000) chat rows, then measures on this machine, side by side in one run:

* the limit line: a raw mysqlclient bulk copy of the source rows (executemany,
  5,000 rows a commit, nothing parsed) into a scratch table created from the
  hub's own message DDL (SHOW CREATE TABLE of the migrated table), with the
  same device and session ids the hub gave the rows;
* the hub's backfill on the incremental path (upserts, backfill mode off) and
  in backfill mode, each into an empty hub, as rows/s, ratio to the limit line
  and peak RSS;

then a row-by-row copy as baseline, the cost of an idle tick, source insert
-> console `chat_update` latency through the sync and through the report
ingest (Redis channel layer, a real subscriber), the REST queries' plans and
the latency of a device's history page. `--only backfill` stops after the
copies. Uses its own databases (hub_bench, hub_bench_source) and Redis db 12,
and drops them.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import NamedTuple

MYSQL = os.environ.get("BENCH_MYSQL_URL", "mysql://root@127.0.0.1:3306")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
ROWS = int(os.environ.get("BENCH_ROWS", "1000000"))
DEVICES = 1000
SYNC_INTERVAL = 2  # seconds between ticks in the sync-path latency test
HUB_DB, SOURCE_DB = "hub_bench", "hub_bench_source"

os.environ.update(
    DJANGO_SETTINGS_MODULE="xiaozhi_hub.settings",
    SECRET_KEY="bench-only",
    DATABASE_URL=f"{MYSQL}/{HUB_DB}",
    ESP32_DATABASE_URL=f"{MYSQL}/{SOURCE_DB}",
    REDIS_URL=REDIS,
    HUB_CHANNEL_PREFIX="hubbench",
    HUB_REPORT_SECRET="bench-secret",
    ALLOWED_HOSTS="testserver,localhost",
    LOG_LEVEL="WARNING",
)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.chathistory.source_schema import SourceDatabase  # noqa: E402

source = SourceDatabase(f"{MYSQL}/{HUB_DB}", SOURCE_DB)


def create_hub_database() -> None:
    conn = source.connect(database=False, autocommit=True)
    conn.cursor().execute(f"DROP DATABASE IF EXISTS {HUB_DB}")
    conn.cursor().execute(f"CREATE DATABASE {HUB_DB} CHARACTER SET utf8mb4")
    conn.close()


def drop_databases() -> None:
    conn = source.connect(database=False, autocommit=True)
    for name in (HUB_DB, SOURCE_DB):
        conn.cursor().execute(f"DROP DATABASE IF EXISTS {name}")
    conn.close()


def seed(rows: int) -> float:
    """LOAD DATA from a generated file: rows like manager-api's, ms timestamps, utf8mb4."""
    rng = random.Random(7)
    words = [
        "你好",
        "今天天气怎么样",
        "hello",
        "🙂",
        "讲个故事吧",
        "the weather is fine",
        "好的",
        "打开灯",
        "turn off the light",
        "🎵",
    ]
    started = time.monotonic()
    with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False, encoding="utf-8") as f:
        base = 1_700_000_000.0
        for i in range(rows):
            device = i % DEVICES
            session = f"sess-{device}-{i // (DEVICES * 20)}"
            chat_type = 3 if i % 50 == 49 else 1 + i % 2
            text = " ".join(rng.choice(words) for _ in range(rng.randint(2, 40)))
            if chat_type == 3:
                text = json.dumps([{"type": "tool", "text": f'play_music({{"song": "{i}"}})'}])
            elif chat_type == 1 and i % 7 == 0:
                text = json.dumps({"speaker": "Alice", "content": text}, ensure_ascii=False)
            moment = time.gmtime(base + i * 0.25)
            created = time.strftime("%Y-%m-%d %H:%M:%S", moment) + f".{(i * 250) % 1000:03d}"
            text = text.replace("\\", "\\\\").replace("\t", " ").replace("\n", " ")
            f.write(
                f"aa:bb:cc:00:{device // 256:02x}:{device % 256:02x}\tagent{device % 10}\t"
                f"{session}\t{chat_type}\t{text}\t{created}\n"
            )
        path = f.name
    conn = source.connect(autocommit=True)
    conn.cursor().execute(
        f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE ai_agent_chat_history "
        "CHARACTER SET utf8mb4 (mac_address, agent_id, session_id, chat_type, content, created_at)"
    )
    conn.cursor().execute(
        "INSERT INTO ai_agent (id, agent_name, chat_history_conf) VALUES "
        + ", ".join(f"('agent{i}', 'Agent {i}', 1)" for i in range(10))
    )
    conn.close()
    os.unlink(path)
    return time.monotonic() - started


class RssSampler(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        import psutil

        self.process, self.samples, self.stop = psutil.Process(), [], threading.Event()

    def run(self):
        while not self.stop.is_set():
            self.samples.append(self.process.memory_info().rss / 2**20)
            time.sleep(0.2)


def pct(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def database_server():
    """The local MariaDB/MySQL server process (its CPU is the server's share), or None."""
    import psutil

    for process in psutil.process_iter(["name"]):
        if process.info["name"] in ("mariadbd", "mysqld"):
            return process
    return None


class Copy(NamedTuple):
    seconds: float
    client_us: float  # this process's CPU per row (both threads)
    server_us: float | None  # the database server's CPU per row (other clients' too)
    memory: str


def measured(work) -> Copy:
    """How long `work()` (a copy of ROWS rows) took, its CPU per row, and its memory."""
    import psutil

    me, server = psutil.Process(), database_server()

    def cpu(process):
        times = process.cpu_times()
        return times.user + times.system

    sampler = RssSampler()
    sampler.start()
    client_cpu, server_cpu = cpu(me), cpu(server) if server else 0.0
    started = time.monotonic()
    work()
    took = time.monotonic() - started
    client_us = (cpu(me) - client_cpu) / ROWS * 1e6
    server_us = (cpu(server) - server_cpu) / ROWS * 1e6 if server else None
    sampler.stop.set()
    sampler.join()
    s = sampler.samples or [0]
    tenth = max(1, len(s) // 10)
    memory = (
        f"RSS MiB start {s[0]:.0f}, peak {max(s):.0f}, first/last 10% "
        f"{statistics.mean(s[:tenth]):.0f}/{statistics.mean(s[-tenth:]):.0f}"
    )
    return Copy(took, client_us, server_us, memory)


RAW_TABLE = "bench_raw_copy"
RAW_BATCH = 5000


def raw_copy() -> None:
    """The limit line: source rows into the hub's message DDL by the plainest bulk client.

    One executemany (mysqlclient sends it as multi-row INSERTs) and one commit per
    RAW_BATCH rows; device and session ids are the hub's, looked up in dicts, so the
    indexes see the same keys as the hub's own copy. Nothing is parsed or checked.
    """
    import MySQLdb

    hub = MySQLdb.connect(**source.server, db=HUB_DB, charset="utf8mb4")
    cursor = hub.cursor()
    cursor.execute("SHOW CREATE TABLE chathistory_chatmessage")
    ddl = cursor.fetchone()[1]
    ddl = ddl.replace("CREATE TABLE `chathistory_chatmessage`", f"CREATE TABLE `{RAW_TABLE}`")
    ddl = ddl.replace("CONSTRAINT `", "CONSTRAINT `raw_")  # constraint names are per database
    cursor.execute(f"DROP TABLE IF EXISTS {RAW_TABLE}")
    cursor.execute(ddl)
    cursor.execute("SELECT mac, id FROM chathistory_device")
    devices = dict(cursor.fetchall())
    cursor.execute("SELECT device_id, session_id, id FROM chathistory_chatsession")
    sessions = {(device, sid): pk for device, sid, pk in cursor.fetchall()}
    cursor.execute("SELECT agent_id, id FROM chathistory_agent")
    agents = dict(cursor.fetchall())
    hub.commit()
    src = source.connect()
    read = src.cursor()
    insert = (
        f"INSERT INTO {RAW_TABLE} (source, source_id, match_key, origin, device_id, session_id, "
        "agent_id, chat_type, role, content, audio_id, created_at, stored_at) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    )
    roles, key, now, cursor_id = {1: "user", 2: "agent", 3: "tool"}, "0" * 64, time.time(), 0
    stored = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now))
    while True:
        read.execute(
            "SELECT id, mac_address, agent_id, session_id, chat_type, content, audio_id, "
            "created_at FROM ai_agent_chat_history WHERE id > %s ORDER BY id LIMIT %s",
            [cursor_id, RAW_BATCH],
        )
        rows = read.fetchall()
        src.commit()
        if not rows:
            break
        values = []
        for row_id, mac, agent, sid, chat_type, content, audio, created in rows:
            device = devices.get(mac)
            values.append(
                (
                    "esp32", row_id, key, "sync", device, sessions.get((device, sid)),
                    agents.get(agent), chat_type, roles[chat_type], content, audio,
                    created, stored,
                )
            )  # fmt: skip
        cursor.executemany(insert, values)
        hub.commit()
        cursor_id = rows[-1][0]
    cursor.execute(f"SELECT COUNT(*) FROM {RAW_TABLE}")
    copied = cursor.fetchone()[0]
    cursor.execute(f"DROP TABLE {RAW_TABLE}")
    src.close()
    hub.close()
    assert copied == ROWS, (copied, ROWS)


def hub_backfill(backfill_mode: bool) -> None:
    from chathistory.models import ChatMessage
    from chathistory.sync import run_sync

    result = run_sync(full=True, trigger="bench", backfill_mode=backfill_mode)
    assert result.status == "success", result.error
    copied = ChatMessage.objects.count()
    assert copied == ROWS, (copied, ROWS)


def empty_hub() -> None:
    """The hub as before its first sync: no messages, sessions, devices or sync state."""
    from django.db import connection

    tables = [
        "chathistory_chataudio",
        "chathistory_chatmessage",
        "chathistory_chatsession",
        "chathistory_device",
        "chathistory_agent",
        "chathistory_syncgap",
        "chathistory_syncstate",
    ]
    with connection.cursor() as cursor:
        cursor.execute("SET FOREIGN_KEY_CHECKS = 0")
        for table in tables:
            cursor.execute(f"TRUNCATE TABLE {table}")
        cursor.execute("SET FOREIGN_KEY_CHECKS = 1")


LIMIT = "limit: raw mysqlclient copy, same DDL"
INCREMENTAL = "hub backfill, incremental path"
MODE = "hub backfill, backfill mode"


def backfill(results):
    """Each hub copy into an empty hub, each followed by a limit copy (it takes the hub's ids).

    The machine's load drifts: a hub copy is compared with the limit copy next to it, and
    BENCH_ROUNDS (default 1) rounds alternate the order of the two hub paths; the best
    round of each is shown. Returns the backfill mode's rate.
    """
    rounds = int(os.environ.get("BENCH_ROUNDS", "1"))
    pairs: dict[str, list[tuple[Copy, Copy]]] = {INCREMENTAL: [], MODE: []}
    for number in range(rounds):
        for name in (INCREMENTAL, MODE) if number % 2 == 0 else (MODE, INCREMENTAL):
            empty_hub()
            hub = measured(lambda name=name: hub_backfill(name == MODE))
            pairs[name].append((hub, measured(raw_copy)))
    limits = [limit for runs in pairs.values() for _, limit in runs]
    best_limit = min(limits, key=lambda c: c.seconds)
    results.append((LIMIT, *_copy_figures(best_limit, f"best of {len(limits)}")))
    for name, runs in pairs.items():
        hub, limit = max(runs, key=lambda pair: pair[1].seconds / pair[0].seconds)
        ratio = limit.seconds / hub.seconds
        results.append((name, *_copy_figures(hub, f"{ratio:.2f}x the limit copy next to it")))
    return ROWS / min(hub.seconds for hub, _ in pairs[MODE])


def _copy_figures(copy: Copy, note: str) -> tuple[str, str]:
    server = f"{copy.server_us:.1f}" if copy.server_us is not None else "n/a"
    return (
        f"{ROWS / copy.seconds:,.0f} rows/s",
        f"{note}; {ROWS:,} rows in {copy.seconds:.1f} s; CPU us/row client "
        f"{copy.client_us:.1f}, server {server}; {copy.memory}",
    )


def baseline(results, rate, sample=3000):
    """What a naive copier does: one source row, one get_or_create per reference, one INSERT."""
    from django.db import connections

    from chathistory.models import ChatMessage, ChatSession, Device
    from chathistory.parsing import match_key, parse_content

    started = time.monotonic()
    with connections["esp32"].cursor() as cursor:
        cursor.execute(
            "SELECT id, mac_address, session_id, chat_type, content, created_at "
            "FROM ai_agent_chat_history ORDER BY id LIMIT %s",
            [sample],
        )
        for row_id, mac, sid, chat_type, content, created in cursor.fetchall():
            device, _ = Device.objects.get_or_create(mac=f"baseline-{mac}")
            session, _ = ChatSession.objects.get_or_create(device=device, session_id=f"b-{sid}")
            parsed = parse_content(chat_type, content)
            ChatMessage.objects.create(
                source="baseline",
                source_id=row_id,
                device=device,
                session=session,
                chat_type=chat_type,
                role=parsed.role,
                content=parsed.content,
                match_key=match_key(mac=mac, session_id=sid, chat_type=chat_type, raw=content),
                created_at=created.replace(tzinfo=__import__("datetime").UTC),
            )
    took = time.monotonic() - started
    base_rate = sample / took
    ChatMessage.objects.filter(source="baseline").delete()
    ChatSession.objects.filter(session_id__startswith="b-").delete()
    Device.objects.filter(mac__startswith="baseline-").delete()
    results.append(
        (
            "row-by-row copy (baseline)",
            f"{base_rate:,.0f} rows/s",
            f"{sample:,} rows in {took:.1f} s; batch sync is {rate / base_rate:.1f}x",
        )
    )


def idle_tick(results, ticks=30):
    from chathistory.sync import run_sync

    times = []
    for _ in range(ticks):
        started = time.monotonic()
        assert run_sync(trigger="bench").rows_read == 0
        times.append((time.monotonic() - started) * 1000)
    results.append(
        (
            "idle tick (no new rows)",
            f"p50 {pct(times, 50):.1f} ms",
            f"p95 {pct(times, 95):.1f} ms, max {max(times):.1f} ms over {ticks}",
        )
    )


class Subscriber(threading.Thread):
    """A console stand-in: a channel in the `chat` group on the Redis layer, in its own loop."""

    def __init__(self):
        super().__init__(daemon=True)
        self.received: dict[str, float] = {}
        self.ready, self.stop = threading.Event(), threading.Event()

    def run(self):
        asyncio.run(self._main())

    async def _main(self):
        from channels.layers import channel_layers

        from xiaozhi_hub.broadcast import CHAT, group_name

        layer = channel_layers.make_backend("default")
        channel = await layer.new_channel()
        await layer.group_add(group_name(CHAT), channel)
        self.ready.set()
        while not self.stop.is_set():
            try:
                message = await asyncio.wait_for(layer.receive(channel), 0.5)
            except TimeoutError:
                continue
            now = time.monotonic()
            for item in message["frame"]["payload"]["messages"]:
                self.received.setdefault(item["content"], now)
        await layer.group_discard(group_name(CHAT), channel)

    def wait_for(self, content, timeout=10.0):
        deadline = time.monotonic() + timeout
        while content not in self.received and time.monotonic() < deadline:
            time.sleep(0.002)
        return self.received.get(content)


def sync_path_latency(results, subscriber, samples=6):
    """A ticker plays beat (every SYNC_INTERVAL s); rows are written at random moments."""
    from django.db import connections

    from chathistory.sync import run_sync

    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            run_sync(trigger="bench")
            stop.wait(SYNC_INTERVAL)
        connections.close_all()

    thread = threading.Thread(target=ticker, daemon=True)
    thread.start()
    latencies = []
    for i in range(samples):
        time.sleep(random.uniform(0.1, SYNC_INTERVAL))
        content = f"sync-latency-{i}-{time.time()}"
        sent = time.monotonic()
        source.write(mac="aa:bb:cc:00:00:01", session="bench", chat_type=1, content=content)
        got = subscriber.wait_for(content, SYNC_INTERVAL + 10)
        latencies.append((got - sent) if got else float("inf"))
    stop.set()
    thread.join()
    results.append(
        (
            f"insert -> chat_update, sync path (interval {SYNC_INTERVAL} s)",
            f"max {max(latencies):.2f} s",
            f"mean {statistics.mean(latencies):.2f} s over {samples}; "
            f"target <= interval + 1 s = {SYNC_INTERVAL + 1} s",
        )
    )


def ingest_latency(results, subscriber, samples=200):
    from django.test import Client

    client = Client()
    latencies = []
    for i in range(samples):
        content = f"ingest-latency-{i}"
        body = {
            "macAddress": "aa:bb:cc:00:00:02",
            "sessionId": "bench-ingest",
            "chatType": 1,
            "content": content,
            "reportTime": int(time.time() * 1000),
        }
        sent = time.monotonic()
        response = client.post(
            "/xiaozhi/agent/chat-history/report",
            json.dumps(body),
            content_type="application/json",
            HTTP_AUTHORIZATION="Bearer bench-secret",
        )
        assert response.json()["code"] == 0, response.content
        got = subscriber.wait_for(content, 5)
        latencies.append(((got - sent) if got else float("inf")) * 1000)
    results.append(
        (
            "report POST -> chat_update, ingest path",
            f"p99 {pct(latencies, 99):.1f} ms",
            f"p50 {pct(latencies, 50):.1f} ms over {samples}; target p99 <= 200 ms",
        )
    )


def query_plans(results, mac):
    """EXPLAIN of each query that reads messages: the index it takes on the message table."""
    from datetime import timedelta

    from django.db import connection
    from django.db.models import Count, Max, Min

    from chathistory.models import ChatMessage
    from chathistory.selectors import device_get, message_queryset, session_queryset

    device = device_get(mac=mac)
    session = device.chatsession_set.order_by("id").first()
    newest = ("-created_at", "-id")
    moment = ChatMessage.objects.filter(device=device).latest("created_at").created_at
    window = (moment - timedelta(seconds=30), moment + timedelta(seconds=30))
    queries = {
        "device history page": message_queryset(device=device).order_by(*newest)[:51],
        "device page, ?session_id=": message_queryset(
            device=device, session_id=session.session_id
        ).order_by(*newest)[:51],
        "session messages page": message_queryset(session=session).order_by(*newest)[:51],
        "messages by session id": message_queryset(session_id=session.session_id).order_by(*newest)[
            :51
        ],
        "device sessions + first words": session_queryset(device=device).order_by(
            "-last_message_at", "-id"
        ),
        "newest messages, all devices": ChatMessage.objects.order_by(*newest)[:50],
        "device statistics": ChatMessage.objects.filter(device=device)
        .values_list("role")
        .annotate(n=Count("id"), first=Min("created_at"), last=Max("created_at"))
        .order_by(),
        "export keyset page": message_queryset(device=device).order_by("created_at", "id")[:500],
        "sync: unpaired reports": ChatMessage.objects.filter(
            source_id__isnull=True,
            origin="report",
            created_at__gte=window[0],
            created_at__lte=window[1],
        ),
        "ingest: synced twin": ChatMessage.objects.filter(
            device=device,
            match_key="0" * 64,
            origin="sync",
            report_key__isnull=True,
            created_at__gte=window[0],
            created_at__lte=window[1],
        ),
    }
    for name, queryset in queries.items():
        sql, params = queryset.query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + sql, params)
            columns = [c[0] for c in cursor.description]
            plans = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        plan = next(p for p in plans if p["table"] in ("chathistory_chatmessage", "U0"))
        results.append(
            (
                f"plan: {name}",
                f"key {plan['key']}",
                f"type {plan['type']}, rows {plan['rows']}, extra: {plan['Extra']}",
            )
        )


def rest_latency(results, requests=200):
    from django.contrib.auth import get_user_model
    from django.test import Client

    user = get_user_model().objects.create_user("bench", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(user)
    mac = "aa:bb:cc:00:01:f4"
    first = client.get(f"/api/v2/chat-history/{mac}")
    assert first.status_code == 200, first.content
    second_page = first.json()["next"] or f"/api/v2/chat-history/{mac}"
    times = []
    for i in range(requests):
        url = second_page if i % 2 else f"/api/v2/chat-history/{mac}"
        started = time.monotonic()
        response = client.get(url)
        times.append((time.monotonic() - started) * 1000)
        assert response.status_code == 200
    count = first.json()["statistics"]["messages"]
    query_plans(results, mac)
    results.append(
        (
            "REST device history page (50 msgs)",
            f"p99 {pct(times, 99):.1f} ms",
            f"p50 {pct(times, 50):.1f} ms over {requests}; device has {count:,} of "
            f"{ROWS:,} messages; target p99 <= 30 ms",
        )
    )


def main():
    started = time.monotonic()
    create_hub_database()
    source.create()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    results = []
    try:
        seconds = seed(ROWS)
        results.append(
            (
                "seed source (LOAD DATA)",
                f"{ROWS / seconds:,.0f} rows/s",
                f"{ROWS:,} rows in {seconds:.1f} s",
            )
        )
        rate = backfill(results)
        if "--only" in sys.argv and sys.argv[-1] == "backfill":
            return report(results, started)
        baseline(results, rate)
        idle_tick(results)
        subscriber = Subscriber()
        subscriber.start()
        subscriber.ready.wait(10)
        sync_path_latency(results, subscriber)
        ingest_latency(results, subscriber)
        subscriber.stop.set()
        rest_latency(results)
    finally:
        from django.db import connections

        connections.close_all()
        drop_databases()
    report(results, started)


def report(results, started):
    width = max(len(r[0]) for r in results)
    print(
        f"\nchat_sync benchmark ({os.cpu_count()} cores, total {time.monotonic() - started:.0f} s)"
    )
    print(f"{'measure':<{width}}  {'result':<18}  detail")
    print(f"{'-' * width}  {'-' * 18}  {'-' * 60}")
    for name, value, detail in results:
        print(f"{name:<{width}}  {value:<18}  {detail}")


if __name__ == "__main__":
    main()
