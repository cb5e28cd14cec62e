"""Chat-history text search benchmark: `make bench NAME=search` (docs/search.md).

Seeds BENCH_ROWS (default 1,000,000) messages of Chinese, English and mixed chat into a
hub database of its own (hub_bench_search, dropped at the end unless BENCH_KEEP=1),
builds the n-gram side index (time, rows, bytes), then runs Chinese and English queries
(rare, medium and common words, phrases, no match) through `message_search` (newest
50) and, in the same run, the LIKE '%q%' scan the hub used before (the same newest 50):
p50/p99 per language and per query, and checks that both return the same rows. Then the
cost of keeping up: 10,000 new messages indexed incrementally.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

MYSQL = os.environ.get("BENCH_MYSQL_URL", "mysql://root@127.0.0.1:3306")
ROWS = int(os.environ.get("BENCH_ROWS", "1000000"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "7"))
HUB_DB = "hub_bench_search"

os.environ.update(
    DJANGO_SETTINGS_MODULE="xiaozhi_hub.settings",
    SECRET_KEY="bench-only",
    DATABASE_URL=f"{MYSQL}/{HUB_DB}",
    LOG_LEVEL="WARNING",
)
os.environ.pop("ESP32_DATABASE_URL", None)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# Common characters, in rough frequency order: words are drawn from them with a Zipf
# law, so bigrams range from everywhere (的, 我们) to rare, as in real chat.
HAN = (
    "的一是不了人我在有他这为之大来以个中上们到说国和地也子时道出而要于就下得可你年生"
    "自会那后能对着事其里所去行过家十用发天如然作方成者多日都三小军二无同么经法当起与好"
    "看学进种将还分此心前面又定见只主没公从知使点明打开关灯音乐播放歌曲声音调高低闹钟提"
    "醒今明昨早晚上下午雨晴风雪温度气候空调电视窗帘厨房客厅卧室花园孩子妈妈爸爸老师故事"
    "讲笑话翻译英语数学作业问题回答帮助谢谢再见晚安早安吃饭喝水睡觉运动跑步新闻股票价格"
)
WORDS = (
    "你好 今天 天气 怎么样 打开 厨房 的灯 播放 音乐 明天 下雨 孩子 作业 讲 笑话 空调 温度 早安 "
    "晚安 股票 价格 爸爸 妈妈 谢谢 帮我 一下 闹钟 提醒 新闻 故事 翻译 英语 数学 客厅 卧室 窗帘"
).split()
ENGLISH = (
    "the be to of and a in that have it for not on with he as you do at this but his by "
    "from they we say her she or an will my one all would there their what so up out if "
    "about who get which go me when make can like time no just him know take people into "
    "year your good some could them see other than then now look only come its over think "
    "also back after use two how our work first well way even new want because any these "
    "give day most us weather music light kitchen timer alarm play song volume turn on off "
    "please thanks hello xiaozhi robot story joke translate homework question answer"
).split()


def zipf_choice(rng: random.Random, items, s: float = 1.1):
    weights = [1 / (i + 1) ** s for i in range(len(items))]
    return lambda k: rng.choices(items, weights=weights, k=k)


def make_texts(rng: random.Random):
    han_words = list(
        dict.fromkeys(
            "".join(rng.choices(HAN[: 60 + i % 180], k=rng.choice((1, 2, 2, 2, 3, 4))))
            for i in range(6000)
        )
    )
    # Real words at ranks from common to rare.
    for rank, word in enumerate(WORDS):
        han_words.insert(rank * rank * 3, word)
    pick_han, pick_en = zipf_choice(rng, han_words), zipf_choice(rng, ENGLISH)
    punct = "，。？！"

    def chinese(n):
        return "".join(w + (rng.choice(punct) if rng.random() < 0.15 else "") for w in pick_han(n))

    def english(n):
        text = " ".join(pick_en(n))
        return text[:1].upper() + text[1:] + rng.choice(".?!")

    def text(role):
        short = role == "user"
        kind = rng.random()
        n = rng.randint(2, 8) if short else rng.randint(8, 40)
        if kind < 0.7:
            return chinese(n)
        if kind < 0.9:
            return chinese(n // 2) + " " + english(max(1, n // 3)) + " " + chinese(n // 2)
        return english(n)

    return han_words, text


def seed(rows: int) -> float:
    from chathistory.bulk import upsert

    rng = random.Random(7)
    _, text = make_texts(rng)
    start = time.monotonic()
    base = datetime(2026, 1, 1, tzinfo=UTC)
    stored = datetime.now(UTC) - timedelta(days=1)
    step = 10_000

    def batch(first):
        for i in range(first, min(rows, first + step)):
            role = "user" if i % 2 == 0 else "agent"
            created = base + timedelta(seconds=i * 20 + rng.randint(0, 15))
            yield (
                "esp32",
                f"k{i}",
                "sync",
                1 if role == "user" else 2,
                role,
                text(role),
                created,
                stored,
            )

    columns = (
        "source",
        "match_key",
        "origin",
        "chat_type",
        "role",
        "content",
        "created_at",
        "stored_at",
    )
    for first in range(0, rows, step):
        upsert("chathistory_chatmessage", columns, batch(first), key=("id",))
    return time.monotonic() - start


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    value = fn()
    return (time.perf_counter() - start) * 1000, value


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def main() -> None:
    import MySQLdb

    conn = MySQLdb.connect(host="127.0.0.1", user="root", charset="utf8mb4")
    conn.cursor().execute(f"DROP DATABASE IF EXISTS {HUB_DB}")
    conn.cursor().execute(
        f"CREATE DATABASE {HUB_DB} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
    )
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from chathistory.models import ChatMessage
    from chathistory.search import index
    from chathistory.search.query import message_search, search_plan

    call_command("migrate", verbosity=0)
    print(f"seeding {ROWS:,} messages ...", flush=True)
    seconds = seed(ROWS)
    print(f"seeded in {seconds:.0f} s", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE TABLE chathistory_chatmessage")
        cursor.fetchall()
        cursor.execute(
            "SELECT data_length + index_length FROM information_schema.tables "
            "WHERE table_schema = DATABASE() AND table_name = 'chathistory_chatmessage'"
        )
        message_bytes = cursor.fetchone()[0]

    start = time.monotonic()
    indexed = grams = 0
    while True:
        done = index.index_pending(batch_size=5000, max_messages=100_000)
        indexed += done["messages"]
        grams += done["grams"]
        print(f"  indexed {indexed:,} ({time.monotonic() - start:.0f} s)", flush=True)
        if done["messages"] < 100_000:
            break
    build = time.monotonic() - start
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE TABLE chathistory_searchgram")
        cursor.fetchall()
    size = index.index_size()

    queries = {
        "zh": [
            "天气",
            "打开厨房",
            "明天下雨吗",
            "播放音乐",
            "孩子作业",
            "讲笑话",
            "空调温度",
            "早安",
            "股票价格",
            "爸爸妈妈",
            "的",
            "不存在的词语",
        ],
        "en": [
            "weather",
            "kitchen light",
            "play music",
            "translate",
            "homework question",
            "xiaozhi",
            "the",
            "alarm",
            "robot story",
            "zebra crossing",
        ],
    }
    rows = []
    latencies = {(lang, way): [] for lang in queries for way in ("index", "like")}
    for lang, texts in queries.items():
        for q in texts:
            plan = search_plan(text=q)
            index_ms, like_ms = [], []
            for r in range(REPEAT):
                # Alternate which runs first, so caches favour neither.
                order = ("index", "like") if r % 2 == 0 else ("like", "index")
                for way in order:
                    if way == "index":
                        ms, found = timed(lambda q=q: [m.pk for m in message_search(text=q)])
                        index_ms.append(ms)
                    else:
                        ms, expected = timed(
                            lambda q=q: list(
                                ChatMessage.objects.filter(content__icontains=q)
                                .order_by("-created_at", "-id")
                                .values_list("pk", flat=True)[:50]
                            )
                        )
                        like_ms.append(ms)
                assert found == expected, q
            latencies[(lang, "index")] += index_ms[1:]  # the first run warms the cache
            latencies[(lang, "like")] += like_ms[1:]
            rows.append(
                (
                    lang,
                    q,
                    plan.mode,
                    len(plan.ids or []),
                    len(found),
                    statistics.median(index_ms),
                    statistics.median(like_ms),
                )
            )

    # Keeping up: new messages indexed incrementally.
    from chathistory.bulk import upsert

    rng = random.Random(11)
    _, text = make_texts(rng)
    now = datetime.now(UTC) - timedelta(hours=1)
    upsert(
        "chathistory_chatmessage",
        (
            "source",
            "match_key",
            "origin",
            "chat_type",
            "role",
            "content",
            "created_at",
            "stored_at",
        ),
        (("esp32", f"n{i}", "sync", 2, "agent", text("agent"), now, now) for i in range(10_000)),
        key=("id",),
    )
    incremental, done = timed(lambda: index.index_pending())

    print()
    print(
        f"messages: {ROWS:,} ({message_bytes / 2**20:,.0f} MiB with indexes), "
        f"seeded in {seconds:.0f} s"
    )
    print(
        f"index build: {indexed:,} messages, {grams:,} grams in {build:.0f} s "
        f"({indexed / build:,.0f} messages/s); table {size['rows']:,} rows (estimate), "
        f"{size['bytes'] / 2**20:,.0f} MiB"
    )
    print(f"incremental: {done['messages']:,} new messages in {incremental / 1000:.1f} s")
    print()
    print("| lang | query | plan | candidates | found | index p50 ms | LIKE p50 ms |")
    print("|---|---|---|---|---|---|---|")
    for lang, q, mode, cands, found, i50, l50 in rows:
        print(f"| {lang} | {q} | {mode} | {cands} | {found} | {i50:.1f} | {l50:.1f} |")
    print()
    print("| queries | search p50 ms | search p99 ms | LIKE p50 ms | LIKE p99 ms |")
    print("|---|---|---|---|---|")
    for lang in queries:
        i, like = latencies[(lang, "index")], latencies[(lang, "like")]
        print(
            f"| {lang} ({len(queries[lang])}) | {percentile(i, 50):.1f} | "
            f"{percentile(i, 99):.1f} | {percentile(like, 50):.1f} | {percentile(like, 99):.1f} |"
        )
    if os.environ.get("BENCH_KEEP") != "1":
        connection.close()
        conn.cursor().execute(f"DROP DATABASE IF EXISTS {HUB_DB}")


if __name__ == "__main__":
    main()
