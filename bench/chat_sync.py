"""Chat-history sync benchmark: `make bench NAME=chat_sync`.

Seeds a xiaozhi-esp32-server source database with BENCH_ROWS (default
1,000,000) chat rows, then measures on this machine: the full backfill
MySQL -> MySQL (rate and memory), a row-by-row copy as baseline, the cost
of an idle tick, source insert -> console `chat_update` latency through the
sync and through the report ingest (Redis channel layer, a real
subscriber), and REST latency of a device's history page. Uses its own
databases (hub_bench, hub_bench_source) and Redis db 12, and drops them.
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


def backfill(results):
    from chathistory.models import ChatMessage
    from chathistory.sync import run_sync

    sampler = RssSampler()
    sampler.start()
    started = time.monotonic()
    result = run_sync(full=True, trigger="bench")
    took = time.monotonic() - started
    sampler.stop.set()
    sampler.join()
    assert result.status == "success", result.error
    copied = ChatMessage.objects.count()
    assert copied == ROWS, (copied, ROWS)
    s = sampler.samples or [0]
    tenth = max(1, len(s) // 10)
    results.append(
        (
            "full backfill (batch upserts)",
            f"{ROWS / took:,.0f} rows/s",
            f"{ROWS:,} rows in {took:.1f} s; RSS MiB first/last 10%: "
            f"{statistics.mean(s[:tenth]):.0f}/{statistics.mean(s[-tenth:]):.0f}, "
            f"peak {max(s):.0f}",
        )
    )
    return ROWS / took


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


def rest_latency(results, requests=200):
    from django.contrib.auth import get_user_model
    from django.test import Client

    user = get_user_model().objects.create_user("bench", is_staff=True)
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
    from django.db import connection

    from chathistory.selectors import device_get, message_queryset

    page = message_queryset(device=device_get(mac=mac)).order_by("-created_at", "-id")[:51]
    sql, params = page.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        columns = [c[0] for c in cursor.description]
        plans = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    plan = next(p for p in plans if p["table"] == "chathistory_chatmessage")
    results.append(
        (
            "history page query plan (EXPLAIN)",
            f"key {plan['key']}",
            f"type {plan['type']}, rows {plan['rows']}, extra: {plan['Extra']}",
        )
    )
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
