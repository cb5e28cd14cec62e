"""Cost of the health history (and Prometheus metrics): `make bench NAME=history_cost`.

A real pool worker (`PoolWorkerService`, as the Celery worker runs it) on MariaDB and
Redis holds 1,000 endpoints with a 1 s health interval against one loopback peer
process answering every ping (`python -m tests.endpoints.peers --mode idle`): a
worker WITH the history (HUB_HISTORY_ENABLED, and HUB_METRICS_ENABLED when `--with
history+metrics`, the default) and a fresh worker WITHOUT either, the two side by
side in one table. One after the other, not at once: two such workers and the peer
are more than a 2-core machine serves at 1 s pings. `--rounds` pairs (default 2)
alternate the order (with, without, without, with), so a drift over the run (the
first worker's warm-up of the database, the peer's memory) weighs on both sides.
Summed per variant over windows of the same length (default 130 s: two minute
buckets closed):

- CPU seconds per minute of the worker process (user + system, psutil);
- database write statements per second (INSERT / UPDATE / DELETE / REPLACE, counted in
  the worker by a Django execute wrapper), all and those of the rollup tables; rows
  the rollup statements touched (MySQL counts an upsert that updates as 2).

Targets (issue 14): <= 10 % more CPU, <= 5 rollup writes per second.
`--endpoints 20 --seconds 4 --rounds 1 --database-url ... --no-migrate` is the smoke test's run
(tests/endpoints/test_history_bench.py).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import psutil

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE = "mysql://root@127.0.0.1:3306/hub_bench_history"
DEFAULT_REDIS = "redis://127.0.0.1:6379/14"
ROLLUP_TABLES = ("endpoints_endpointhealthbucket", "endpoints_mcpserverhealthbucket")
WRITES = ("INSERT", "UPDATE", "DELETE", "REPLAC")


# -- the worker (a child process) -------------------------------------------------------


def serve_worker(counters_path: str) -> None:
    """A pool worker that writes its DB write counters to `counters_path` every second."""
    import asyncio

    import django

    django.setup()
    from django.db.backends.signals import connection_created

    from endpoints.worker import PoolWorkerService

    counts: Counter = Counter()

    def count(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if sql.lstrip()[:6].upper() in WRITES:
            kind = "rollup" if any(t in sql for t in ROLLUP_TABLES) else "other"
            counts[f"{kind}_statements"] += 1
            rows = getattr(context.get("cursor"), "rowcount", 0) or 0
            counts[f"{kind}_rows"] += max(0, rows)
        return result

    def instrument(sender, connection, **kwargs):
        connection.execute_wrappers.append(count)

    connection_created.connect(instrument)

    def publish() -> None:
        while True:
            Path(counters_path + ".tmp").write_text(json.dumps(dict(counts)))
            os.replace(counters_path + ".tmp", counters_path)
            time.sleep(1)

    threading.Thread(target=publish, daemon=True).start()
    asyncio.run(PoolWorkerService(reconcile_interval=2).run())


# -- the parent ---------------------------------------------------------------------------


def setup_django(database_url: str, redis_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["REDIS_URL"] = redis_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "xiaozhi_hub.settings"  # never the tests' settings
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key")
    os.environ.setdefault("HUB_DATA_DIR", tempfile.mkdtemp(prefix="hub-bench-"))
    import django

    django.setup()


def create_database(database_url: str) -> None:
    import MySQLdb

    parts = urlsplit(database_url)
    conn = MySQLdb.connect(
        host=parts.hostname, port=parts.port or 3306, user=parts.username or "root",
        passwd=parts.password or "",
    )  # fmt: skip
    conn.cursor().execute(
        f"CREATE DATABASE IF NOT EXISTS `{parts.path.lstrip('/')}` "
        "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
    )
    conn.close()


def seed(port: int, count: int) -> list[int]:
    from endpoints.models import Endpoint, PoolOptions
    from tests.endpoints.peers import endpoint_url, make_token

    options = PoolOptions.load()
    options.health_check_interval = 1.0
    options.save()
    rows = Endpoint.objects.bulk_create(
        [Endpoint(name=f"bench-{i}", url=endpoint_url(port, make_token())) for i in range(count)],
        batch_size=500,
    )
    return [row.pk for row in rows]


def held_and_connected() -> tuple[Counter, int]:
    from django.db.models import Count

    from endpoints.models import Endpoint, EndpointLiveStatus

    owners = Counter(
        {
            row["owner"]: row["n"]
            for row in Endpoint.objects.filter(name__startswith="bench-", owner__isnull=False)
            .values("owner")
            .annotate(n=Count("id"))
        }
    )
    connected = EndpointLiveStatus.objects.filter(  # as reported by their current owner
        endpoint__name__startswith="bench-", connected=True, worker__in=list(owners)
    ).count()
    return owners, connected


def cleanup() -> None:
    from endpoints.models import Endpoint, PoolWorker

    Endpoint.objects.filter(name__startswith="bench-").delete()  # their history goes too
    PoolWorker.objects.all().delete()


def settle(args, process: subprocess.Popen, label: str, workdir: Path) -> None:
    """Until the worker holds every endpoint and (nearly) all are connected."""
    deadline = time.monotonic() + args.settle_timeout
    while True:
        owners, connected = held_and_connected()
        # Nearly all: on a loaded machine a few pings time out and their endpoints redial.
        if list(owners.values()) == [args.endpoints] and connected >= 0.95 * args.endpoints:
            return
        if process.poll() is not None:
            raise RuntimeError(f"the {label} worker exited; see {workdir}/{label}.log")
        if time.monotonic() > deadline:
            raise RuntimeError(f"not settled: owners {dict(owners)}, {connected} connected")
        time.sleep(1)


def cpu_seconds(process: subprocess.Popen) -> float:
    times = psutil.Process(process.pid).cpu_times()
    return times.user + times.system


def read_counts(path: Path) -> Counter:
    try:
        return Counter(json.loads(path.read_text()))
    except (OSError, ValueError):
        return Counter()


def start_worker(label: str, env: dict, workdir: Path) -> tuple[subprocess.Popen, Path]:
    counters = workdir / f"{label}.json"
    log = (workdir / f"{label}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.history_cost", "--serve-worker", str(counters)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return process, counters


def measure(args) -> list[tuple]:
    if not args.no_migrate:
        create_database(args.database_url)
    setup_django(args.database_url, args.redis_url)
    from django.core.management import call_command

    if not args.no_migrate:
        call_command("migrate", verbosity=0)
    cleanup()
    workdir = Path(tempfile.mkdtemp(prefix="history-cost-"))
    peer = subprocess.Popen(
        [sys.executable, "-m", "tests.endpoints.peers", "--mode", "idle"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    workers: list[subprocess.Popen] = []
    cpu, counts, windows = Counter(), {"with": Counter(), "without": Counter()}, Counter()
    try:
        port = int(peer.stdout.readline().split()[1])
        seed(port, args.endpoints)
        base = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("HUB_HISTORY") and not key.startswith("HUB_METRICS")
        }
        base.update(
            DATABASE_URL=args.database_url,
            REDIS_URL=args.redis_url,
            HUB_POOL_LEASE_TTL="15",
            PYTHONUNBUFFERED="1",
        )
        metrics = "1" if args.with_ == "history+metrics" else "0"
        variants = {
            "with": {**base, "HUB_HISTORY_ENABLED": "1", "HUB_METRICS_ENABLED": metrics},
            "without": {**base, "HUB_HISTORY_ENABLED": "0", "HUB_METRICS_ENABLED": "0"},
        }
        # One worker at a time holds all the endpoints: two at once, with the peer, are
        # more than a 2-core machine serves at 1 s pings (pings time out, leases lapse).
        # Rounds alternate the order (with, without; without, with; ...): whatever
        # drifts over the run (the peer, the database, the machine) weighs on both.
        for number in range(args.rounds):
            order = ("with", "without") if number % 2 == 0 else ("without", "with")
            for label in order:
                name = f"{label}-{number + 1}"
                process, counters = start_worker(name, variants[label], workdir)
                workers.append(process)
                settle(args, process, name, workdir)
                time.sleep(args.warmup)
                cpu_before, counts_before = cpu_seconds(process), read_counts(counters)
                started = time.monotonic()
                time.sleep(args.seconds)
                windows[label] += time.monotonic() - started
                cpu[label] += cpu_seconds(process) - cpu_before
                counts[label].update(read_counts(counters) - counts_before)
                process.terminate()  # a clean stop gives the leases back for the next one
                process.wait(timeout=60)
    finally:
        for process in [*workers, peer]:
            if process.poll() is None:
                process.terminate()
        for process in [*workers, peer]:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        cleanup()

    figures = {}
    for label, delta in counts.items():
        window = windows[label]
        figures[label] = {
            "cpu_per_minute": cpu[label] / window * 60,
            "writes": (delta["rollup_statements"] + delta["other_statements"]) / window,
            "rollup_writes": delta["rollup_statements"] / window,
            "rollup_rows": delta["rollup_rows"] / window,
        }
    with_, without = figures["with"], figures["without"]
    extra = (with_["cpu_per_minute"] / without["cpu_per_minute"] - 1) * 100
    n = args.endpoints
    what = "history + metrics" if args.with_ == "history+metrics" else "history"
    return [
        (f"worker CPU s/min ({n} endpoints, 1 s pings)", f"{with_['cpu_per_minute']:.2f}",
         f"{without['cpu_per_minute']:.2f}", f"{extra:+.1f} %", "<= +10 %", verdict(extra <= 10)),
        ("DB write statements/s, all", f"{with_['writes']:.2f}", f"{without['writes']:.2f}",
         f"{with_['writes'] - without['writes']:+.2f}", "", ""),
        ("DB write statements/s, rollup tables", f"{with_['rollup_writes']:.3f}",
         f"{without['rollup_writes']:.3f}", "", "<= 5", verdict(with_["rollup_writes"] <= 5)),
        ("  rows/s the rollup statements touched", f"{with_['rollup_rows']:.1f}",
         f"{without['rollup_rows']:.1f}", "", "", ""),
        (f"({args.rounds} round(s) of {args.seconds:.0f} s each, one worker at a time, "
         f"alternating order; WITH = {what})", "", "", "", "", ""),
    ]  # fmt: skip


def verdict(passed: bool) -> str:
    return "ok" if passed else "MISSED"


def print_table(rows: list) -> None:
    headers = ("measure", "with", "without", "difference", "target", "")
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    line = "  ".join("-" * w for w in widths)
    print(line)
    for row in [headers, None, *rows]:
        if row is None:
            print(line)
            continue
        print("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve-worker", metavar="COUNTERS", help=argparse.SUPPRESS)
    parser.add_argument("--endpoints", type=int, default=1000, help="per worker (1000)")
    parser.add_argument("--seconds", type=float, default=130.0, help="measuring window (130)")
    parser.add_argument("--warmup", type=float, default=5.0, help="after settling (5)")
    parser.add_argument(
        "--rounds", type=int, default=2, help="with/without pairs, the order alternating (2)"
    )
    parser.add_argument("--settle-timeout", type=float, default=240.0)
    parser.add_argument(
        "--with", dest="with_", choices=("history", "history+metrics"), default="history+metrics"
    )
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE)
    )
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS))
    parser.add_argument(
        "--no-migrate", action="store_true", help="the database exists and is migrated"
    )
    args = parser.parse_args()
    if args.serve_worker:
        serve_worker(args.serve_worker)
        return
    from bench.pool import raise_fd_limit

    raise_fd_limit(4 * args.endpoints + 256)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"health history cost benchmark ({psutil.cpu_count()} CPUs, load {load}, "
        f"Python {sys.version.split()[0]})"
    )
    print_table(measure(args))


if __name__ == "__main__":
    main()
