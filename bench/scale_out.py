"""Scale-out across Celery workers: `make bench NAME=scale_out` prints one table.

One asyncio peer process plays the xiaozhi broker for every endpoint (a URL
with its own path and token each): it sends `initialize` on connect, then
`notifications/initialized`, answers the hub's pings, and records every
connection per endpoint with timestamps (open, initialized, closed). W real
`celery -A xiaozhi_hub worker` processes run the pool on MariaDB and Redis
with the default lease TTL and health interval. Measured, in this order:

1. start-up: time from starting the workers until every endpoint is connected
   and initialized; start-up churn, the share of endpoints that connected more
   than once until then (`--before-tree DIR` first runs the start-up with the
   workers of another checkout, e.g. the code before a change, and
   `--compare-settle` with HUB_POOL_SETTLE=0; each is stopped before the next);
2. steady state (`--steady` seconds): endpoints per worker, worker RSS and
   CPU, and the database's own counters for the workers' MariaDB user
   (information_schema.USER_STATISTICS: SELECT / write / other statements and
   the server's busy time), per second and per health ping the peer answered;
   SHOW GLOBAL STATUS `Questions` over the same window for comparison (server
   wide: other clients of the server count there too);
3. SIGKILL of `--kill` workers (their whole process group): time until every
   endpoint is connected again (target <= 30 s);
4. `--kill` fresh workers start: reconnects the rebalancing caused and the time
   until every worker holds its share;
and, over the whole run, the most connections one endpoint ever had at once
(must be 1).

The workers' database user is `hub_scale_bench` (created, with userstat
switched on for the run and back off after); `--database-url` (default
mysql://root@127.0.0.1:3306/hub_bench_scale) says where, `--redis-url` the
Redis database (default 11). The figures at 10,000 x 10 need more than a
2-core machine: `--endpoints 2000 --workers 4` fits; the table ends with a
per-endpoint / per-worker model fitted to the run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import psutil

from bench.history_cost import setup_django
from bench.pool import print_table, verdict

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE = "mysql://root@127.0.0.1:3306/hub_bench_scale"
DEFAULT_REDIS = "redis://127.0.0.1:6379/11"
BENCH_USER = "hub_scale_bench"
BENCH_PASSWORD = "hub-scale-bench"  # a loopback-only user of the bench database
PREFIX = "scale-"  # endpoint names


# -- the peer (a child process) ----------------------------------------------------------


class BrokerPeer:
    """Every endpoint's broker side: initialize on connect, answer pings, count connections."""

    def __init__(self, events_path: str) -> None:
        self.live: Counter[str] = Counter()  # open connections per endpoint path
        self.ready_live: Counter[str] = Counter()  # of those, initialized
        self.opens: Counter[str] = Counter()
        self.ready = 0  # endpoints with an initialized connection
        self.most = 0  # the most connections one endpoint ever had at once
        self.doubles = 0  # times an endpoint got a second concurrent connection
        self.pings = 0
        self.events = open(events_path, "a", buffering=1 << 16)  # noqa: SIM115 - lives with the process

    def _event(self, kind: str, key: str) -> None:
        self.events.write(f"{time.time():.3f} {kind} {key}\n")

    async def handle(self, ws) -> None:
        from websockets.exceptions import ConnectionClosed

        from tests.endpoints.peers import REFERENCE_INITIALIZE, REFERENCE_INITIALIZED

        key = ws.request.path.split("?", 1)[0]
        self.live[key] += 1
        self.opens[key] += 1
        if self.live[key] > 1:
            self.doubles += 1
        self.most = max(self.most, self.live[key])
        self._event("open", key)
        initialized = False
        try:
            await ws.send(REFERENCE_INITIALIZE)
            async for frame in ws:
                message = json.loads(frame)
                if "method" not in message:
                    if message.get("id") == 0 and not initialized:
                        await ws.send(REFERENCE_INITIALIZED)
                        initialized = True
                        self.ready_live[key] += 1
                        self.ready += self.ready_live[key] == 1
                        self._event("init", key)
                    continue
                if "id" not in message:
                    continue
                if message["method"] == "ping":
                    self.pings += 1
                    reply = {"jsonrpc": "2.0", "id": message["id"], "result": {}}
                else:
                    error = {"code": -32601, "message": "Method not found"}
                    reply = {"jsonrpc": "2.0", "id": message["id"], "error": error}
                await ws.send(json.dumps(reply))
        except (ConnectionClosed, ValueError):
            pass
        finally:
            self.live[key] -= 1
            if initialized:
                self.ready_live[key] -= 1
                self.ready -= self.ready_live[key] == 0
            self._event("close", key)

    def summary(self) -> dict:
        return {
            "ready": self.ready,
            "open": sum(self.live.values()),
            "most": self.most,
            "doubles": self.doubles,
            "opens": sum(self.opens.values()),
            "pings": self.pings,
        }


def serve_peer(workdir: str) -> None:
    from websockets.asyncio.server import serve

    raise_fd_limit()
    peer = BrokerPeer(os.path.join(workdir, "events.txt"))
    summary = Path(workdir) / "peer.json"

    async def run() -> None:
        async with serve(
            peer.handle, "127.0.0.1", 0, compression=None, ping_interval=None, max_size=None
        ) as server:
            print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
            while True:
                peer.events.flush()
                summary.with_suffix(".tmp").write_text(json.dumps(peer.summary()))
                os.replace(summary.with_suffix(".tmp"), summary)
                await asyncio.sleep(0.2)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


# -- the parent ---------------------------------------------------------------------------


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def mysql_root(database_url: str):
    import MySQLdb

    parts = urlsplit(database_url)
    conn = MySQLdb.connect(
        host=parts.hostname,
        port=parts.port or 3306,
        user=parts.username or "root",
        passwd=parts.password or "",
    )
    conn.autocommit(True)
    return conn


def prepare_database(database_url: str) -> str:
    """Create the database and the bench user; the workers' DATABASE_URL."""
    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    conn = mysql_root(database_url)
    cursor = conn.cursor()
    cursor.execute(
        f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
    )
    for host in ("127.0.0.1", "localhost"):
        cursor.execute(
            f"CREATE USER IF NOT EXISTS '{BENCH_USER}'@'{host}' IDENTIFIED BY %s", [BENCH_PASSWORD]
        )
        cursor.execute(f"GRANT ALL ON `{name}`.* TO '{BENCH_USER}'@'{host}'")
    conn.close()
    netloc = f"{BENCH_USER}:{BENCH_PASSWORD}@{parts.hostname}:{parts.port or 3306}"
    return parts._replace(netloc=netloc).geturl()


class DbCounters:
    """The bench user's statements (USER_STATISTICS) and the server's Questions."""

    def __init__(self, database_url: str) -> None:
        self.conn = mysql_root(database_url)
        cursor = self.conn.cursor()
        cursor.execute("SELECT @@GLOBAL.userstat")
        self.userstat_was = cursor.fetchone()[0]
        cursor.execute("SET GLOBAL userstat = 1")

    def read(self) -> Counter:
        cursor = self.conn.cursor()
        cursor.execute(
            "SELECT SELECT_COMMANDS, UPDATE_COMMANDS, OTHER_COMMANDS, BUSY_TIME, ROWS_UPDATED "
            "+ ROWS_INSERTED + ROWS_DELETED FROM information_schema.USER_STATISTICS "
            "WHERE USER = %s",
            [BENCH_USER],
        )
        row = cursor.fetchone() or (0, 0, 0, 0.0, 0)
        cursor.execute("SHOW GLOBAL STATUS LIKE 'Questions'")
        questions = int(cursor.fetchone()[1])
        names = ("select", "write", "other", "busy", "rows_written")
        return Counter({**dict(zip(names, row, strict=True)), "questions": questions})

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.cursor().execute(f"SET GLOBAL userstat = {int(self.userstat_was)}")
        self.conn.close()


def seed(port: int, count: int) -> None:
    from endpoints.models import Endpoint, PoolOptions
    from tests.endpoints.peers import endpoint_url, make_token

    PoolOptions.load()  # the defaults: health interval 30 s
    Endpoint.objects.bulk_create(
        [
            Endpoint(
                name=f"{PREFIX}{i}",
                url=endpoint_url(port, make_token(), path=f"/mcp/e{i}/"),
            )
            for i in range(count)
        ],
        batch_size=500,
    )


def cleanup() -> None:
    from endpoints.models import Endpoint, PoolWorker

    Endpoint.objects.filter(name__startswith=PREFIX).delete()
    PoolWorker.objects.all().delete()


def owners() -> Counter:
    from endpoints.models import Endpoint

    return Counter(
        Endpoint.objects.filter(name__startswith=PREFIX, owner__isnull=False).values_list(
            "owner", flat=True
        )
    )


class Run:
    def __init__(self, args, workdir: Path, env: dict) -> None:
        self.args = args
        self.workdir = workdir
        self.env = env
        self.workers: dict[str, subprocess.Popen] = {}
        self.started = 0

    def peer(self) -> dict:
        try:
            return json.loads((self.workdir / "peer.json").read_text())
        except (OSError, ValueError):
            return {}

    def start_workers(self, count: int, cwd: Path = REPO, **env: str) -> None:
        for _ in range(count):
            self.started += 1
            name = f"w{self.started}"
            log = (self.workdir / f"{name}.log").open("wb")
            self.workers[name] = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "xiaozhi_hub",
                    "worker",
                    "--loglevel",
                    "info",
                    "--concurrency",
                    "1",
                    "-n",
                    f"{name}@%h",
                ],
                cwd=cwd,
                env={**self.env, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self, names: list[str]) -> None:
        for name in names:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.workers[name].pid, signal.SIGKILL)
        for name in names:
            self.workers.pop(name).wait()

    def stop_all(self) -> None:
        for process in self.workers.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.workers.values():
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.workers.clear()

    def wait(self, predicate, *, what: str) -> float:
        """Seconds until `predicate()` holds (polled every 0.2 s)."""
        started = time.monotonic()
        deadline = started + self.args.timeout
        while not predicate():
            for name, process in self.workers.items():
                if process.poll() is not None:
                    raise RuntimeError(f"worker {name} exited; see {self.workdir}/{name}.log")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what}: not within {self.args.timeout} s; {self.peer()}")
            time.sleep(0.2)
        return time.monotonic() - started

    def all_ready(self) -> bool:
        return self.peer().get("ready", 0) >= self.args.endpoints

    def balanced(self) -> bool:
        held = owners()
        share = math.ceil(self.args.endpoints / len(self.workers))
        return (
            self.all_ready()
            and len(held) == len(self.workers)
            and sum(held.values()) == self.args.endpoints
            and max(held.values()) <= share
        )

    def worker_processes(self) -> dict[str, list[psutil.Process]]:
        found = {}
        for name, process in self.workers.items():
            leader = psutil.Process(process.pid)
            found[name] = [leader, *leader.children(recursive=True)]
        return found


def read_events(path: Path, since: float = 0.0, until: float = math.inf) -> list[tuple]:
    events = []
    with path.open() as lines:
        for line in lines:
            at, kind, key = line.split()
            if since <= float(at) < until:
                events.append((float(at), kind, key))
    return events


def churn(events: list[tuple]) -> int:
    """Endpoints that connected more than once among `events`."""
    opens = Counter(key for _, kind, key in events if kind == "open")
    return sum(1 for n in opens.values() if n > 1)


def overlaps(path: Path, since: float) -> tuple[int, int]:
    """(the most connections one endpoint had at once, second connections opened), over
    the connections opened since `since` (the ones still open before count too)."""
    live: Counter[str] = Counter()
    most = doubles = 0
    with path.open() as lines:
        for line in lines:
            at, kind, key = line.split()
            if kind == "open":
                live[key] += 1
                if float(at) >= since:
                    most = max(most, live[key])
                    doubles += live[key] > 1
            elif kind == "close":
                live[key] -= 1
    return most, doubles


def start_up(run: Run, rows: list, label: str, cwd: Path = REPO, **env: str) -> float:
    """Start the workers and measure; returns when it began (a time.time())."""
    began = time.time()
    run.start_workers(run.args.workers, cwd=cwd, **env)
    n = run.args.endpoints
    try:
        took = f"{run.wait(run.all_ready, what=f'start-up ({label})'):.1f} s"
    except RuntimeError:
        if label == "this tree":
            raise
        took = f"not within {run.args.timeout:.0f} s ({run.peer().get('ready', 0)} ready)"
    # Whatever still moves right after (the excess given back) counts as start-up too.
    time.sleep(run.args.settle_watch)
    moved = churn(read_events(run.workdir / "events.txt", since=began))
    most, doubles = overlaps(run.workdir / "events.txt", began)
    ours = label == "this tree"
    rows.append((f"time until all {n} connected + initialized ({label})", took, ""))
    rows.append(
        (
            f"  start-up churn: endpoints connected more than once ({label})",
            f"{moved} ({moved / n * 100:.1f} %)",
            "<= 5 %",
            verdict(moved <= 0.05 * n) if ours else "",
        )
    )
    rows.append(
        (
            f"  most connections of one endpoint at once; second ones ({label})",
            f"{most}; {doubles}",
            "1; 0",
            verdict(most == 1 and doubles == 0) if ours else "",
        )
    )
    return began


def measure(args) -> list[tuple]:
    raise_fd_limit()
    worker_url = prepare_database(args.database_url)
    setup_django(worker_url, args.redis_url)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    import redis

    redis.Redis.from_url(args.redis_url).flushdb()
    cleanup()
    counters = DbCounters(args.database_url)
    workdir = Path(tempfile.mkdtemp(prefix="scale-out-"))
    peer = subprocess.Popen(
        [sys.executable, "-m", "bench.scale_out", "--serve-peer", str(workdir)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_HISTORY", "HUB_POOL"))}
    env.update(DATABASE_URL=worker_url, REDIS_URL=args.redis_url, PYTHONUNBUFFERED="1")
    run = Run(args, workdir, env)
    rows: list[tuple] = []
    n, w, k = args.endpoints, args.workers, args.kill
    try:
        port = int(peer.stdout.readline().split()[1])
        seed(port, n)
        before = []
        if args.before_tree:
            before.append(("before: workers of --before-tree", {"cwd": Path(args.before_tree)}))
        if args.compare_settle:
            before.append(("HUB_POOL_SETTLE=0", {"HUB_POOL_SETTLE": "0"}))
        for label, options in before:
            start_up(run, rows, label, **options)
            run.stop_all()
            run.wait(lambda: run.peer().get("open", 1) == 0, what=f"{label}: stopped")
        ours_began = start_up(run, rows, "this tree")

        # Steady state.
        run.wait(run.balanced, what="balanced after start-up")
        held = owners()
        procs = run.worker_processes()
        cpu = {
            name: sum(p.cpu_times().user + p.cpu_times().system for p in ps)
            for name, ps in procs.items()
        }
        db_before, pings_before, t0 = counters.read(), run.peer()["pings"], time.monotonic()
        time.sleep(args.steady)
        window = time.monotonic() - t0
        db = counters.read() - db_before
        pings = run.peer()["pings"] - pings_before
        cpu_pct = [
            (sum(p.cpu_times().user + p.cpu_times().system for p in ps) - cpu[name]) / window * 100
            for name, ps in procs.items()
        ]
        rss = [ps[0].memory_info().rss / 2**20 for ps in procs.values()]
        rss_all = [sum(p.memory_info().rss for p in ps) / 2**20 for ps in procs.values()]
        statements = db["select"] + db["write"] + db["other"]
        per_ping = statements / pings if pings else math.nan
        rows += [
            (
                "endpoints per worker (min / max; share)",
                f"{min(held.values())} / {max(held.values())}",
                f"{math.ceil(n / w)}",
            ),
            ("worker RSS, pool process (min / max)", f"{min(rss):.0f} / {max(rss):.0f} MB", ""),
            ("  with its Celery child", f"{max(rss_all):.0f} MB max", ""),
            (
                "worker CPU (mean / max of one core)",
                f"{sum(cpu_pct) / w:.1f} / {max(cpu_pct):.1f} %",
                "",
            ),
            (f"health pings answered/s ({window:.0f} s window)", f"{pings / window:.1f}", ""),
            (
                "DB statements/s of the workers (select / write / other)",
                f"{statements / window:.1f} ({db['select'] / window:.1f} / "
                f"{db['write'] / window:.1f} / {db['other'] / window:.1f})",
                "",
            ),
            (
                "DB statements per health ping",
                f"{per_ping:.2f}",
                "<= 0.5",
                verdict(per_ping <= 0.5),
            ),
            (
                "DB rows written/s; server busy time for the workers",
                f"{db['rows_written'] / window:.0f}; {db['busy'] / window * 100:.1f} %",
                "",
            ),
            (
                "  server-wide Questions/s (other clients included)",
                f"{db['questions'] / window:.1f}",
                "",
            ),
        ]
        steady = {"cpu": sum(cpu_pct) / 100, "rss": sum(rss_all), "statements": statements / window}

        # SIGKILL k workers.
        victims = list(run.workers)[:k]
        killed_at = time.time()
        run.kill(victims)
        # The peer sees the dead workers' connections end first (a few seconds at most).
        dropped = run.wait(lambda: not run.all_ready(), what="the kill seen by the peer")
        took = dropped + run.wait(run.all_ready, what="takeover")
        rows.append(
            (
                f"SIGKILL {k} workers: all connected again after",
                f"{took:.1f} s",
                "<= 30 s",
                verdict(took <= 30),
            )
        )

        # Start k fresh ones.
        joined_at = time.time()
        before = set(run.workers)
        run.start_workers(k)
        idle_rss = idle_worker_rss(run, [name for name in run.workers if name not in before])
        took = run.wait(run.balanced, what="rebalance")
        time.sleep(args.settle_watch)
        events = read_events(workdir / "events.txt", since=joined_at)
        reconnects = sum(1 for _, kind, _ in events if kind == "open")
        rows.append((f"start {k} workers: every worker at its share after", f"{took:.1f} s", ""))
        rows.append(
            (
                "  reconnects the rebalancing caused",
                f"{reconnects} (share moved: {k} x {math.ceil(n / w)} = {k * math.ceil(n / w)})",
                "",
            )
        )
        most, doubles = overlaps(workdir / "events.txt", killed_at)
        rows.append(
            (
                "most connections of one endpoint at once; second ones (kill + join phases)",
                f"{most}; {doubles}",
                "1; 0",
                verdict(most == 1 and doubles == 0),
            )
        )
        most, doubles = overlaps(workdir / "events.txt", ours_began)
        rows.append(
            (
                "most connections of one endpoint at once; second ones (this tree, whole run)",
                f"{most}; {doubles}",
                "1; 0",
                verdict(most == 1 and doubles == 0),
            )
        )
        rows += model(n=n, w=w, steady=steady, pings=pings / window, idle_rss=idle_rss)
    finally:
        run.stop_all()
        peer.terminate()
        peer.wait(timeout=30)
        counters.close()
        cleanup()
    return rows


def idle_worker_rss(run: Run, names: list[str]) -> float:
    """RSS (MB, with the Celery child) of fresh workers once registered, before they claim
    (they wait HUB_POOL_SETTLE seconds): a worker's cost without endpoints."""
    from endpoints.models import PoolWorker

    pids = [run.workers[name].pid for name in names]
    run.wait(
        lambda: PoolWorker.objects.filter(pid__in=pids).count() == len(pids),
        what="fresh workers registered",
    )
    procs = run.worker_processes()
    return sum(sum(p.memory_info().rss for p in procs[name]) for name in names) / len(names) / 2**20


def model(*, n: int, w: int, steady: dict, pings: float, idle_rss: float) -> list[tuple]:
    """Per-endpoint and per-worker figures of the run, extrapolated linearly.

    Assumptions: CPU is all per endpoint (health pings at the default interval and
    their status writes; a worker's own loops are in the noise); memory is a fixed
    cost per worker (an idle registered worker) plus a cost per endpoint; database
    statements are per worker (lease rounds, reconciles, one status flush a second),
    not per endpoint; the database and the peers are not the bottleneck.
    """
    cpu_per_endpoint = steady["cpu"] / n  # cores
    rss_per_endpoint = max(0.0, steady["rss"] - idle_rss * w) / n  # MB
    per_worker = steady["statements"] / w
    pings_per_endpoint = pings / n

    def need(endpoints: int, workers: int) -> str:
        statements = per_worker * workers
        return (
            f"{cpu_per_endpoint * endpoints:.2f} cores, "
            f"{(idle_rss * workers + rss_per_endpoint * endpoints) / 1024:.1f} GB, "
            f"{statements:.0f} statements/s "
            f"({statements / (pings_per_endpoint * endpoints):.2f} per ping)"
        )

    return [
        ("model: worker CPU per 1,000 endpoints", f"{cpu_per_endpoint * 1e5:.1f} % core", ""),
        (
            "model: RSS per worker (idle) + per endpoint",
            f"{idle_rss:.0f} MB + {rss_per_endpoint * 1024:.0f} KB",
            "",
        ),
        ("model: DB statements/s per worker", f"{per_worker:.1f}", ""),
        ("model: 10,000 endpoints x 10 workers need", need(10000, 10), ""),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve-peer", metavar="WORKDIR", help=argparse.SUPPRESS)
    parser.add_argument("--endpoints", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--kill", type=int, default=3, help="workers SIGKILLed, then started (3)")
    parser.add_argument("--steady", type=float, default=60.0, help="steady-state window (60 s)")
    parser.add_argument(
        "--settle-watch",
        type=float,
        default=10.0,
        help="seconds watched for late moves after each phase (10)",
    )
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument(
        "--compare-settle",
        action="store_true",
        help="first a start-up with HUB_POOL_SETTLE=0 (claims at once)",
    )
    parser.add_argument(
        "--before-tree",
        metavar="DIR",
        help="first a start-up with the workers of another checkout (e.g. the previous "
        "commit: git archive HEAD~1 | tar -x -C DIR), for its start-up churn",
    )
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE)
    )
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS))
    args = parser.parse_args()
    if args.serve_peer:
        serve_peer(args.serve_peer)
        return
    load = os.getloadavg()
    print(
        f"scale-out: {args.endpoints} endpoints x {args.workers} Celery workers, "
        f"{os.cpu_count()} cores, load before {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    rows = measure(args)
    load = os.getloadavg()
    rows.append(
        (
            "machine load average after (1 / 5 / 15 min)",
            f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}",
            "",
        )
    )
    print_table([(*row, "")[:4] for row in rows])  # (measure, value, target, verdict)


if __name__ == "__main__":
    main()
