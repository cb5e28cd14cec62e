"""Soak benchmark: `make bench NAME=soak` prints one table. No leak over reconnect cycles.

A hub child process runs what a pool worker runs for its endpoints (an
`EndpointPool` over an `UpstreamManager`, one stdio upstream server with two
replicas) and dials 100 endpoint URLs served by this process, which plays
the xiaozhi side and ends every connection at a random point:

- right after the WebSocket opens, after sending `initialize` (mid-handshake,
  unanswered), after the `initialize` answer, after `tools/list`;
- or after tool calls in concurrent batches (ok, isError, unknown tool, a
  slow tool cut by its 0.2 s tool timeout), where the last batch may be cut
  mid-call (answers still on their way);
- by a close frame or by cutting the TCP connection (half of each).

Every `--cycles / 10` cycles an upstream child is SIGKILLed (its replica
restarts). The hub child samples itself every second: RSS, open file
descriptors, asyncio tasks, live upstream child processes (and zombies).
Warm-up is the first 20 % of the cycles; the table gives each metric's
least-squares slope against cycles after it, the growth that slope predicts
over the measured window, and two settled samples (traffic paused until
every endpoint is connected and idle): at the end of warm-up and at the end.

Sizes are flags (`--cycles 10000 --calls 100000 --endpoints 100`, the
defaults; about 3 min on a busy two-core machine); a smaller run says so in
its title. `--trace` runs tracemalloc in the hub child and prints what grew
between the two settled points (slow: for finding a leak, not for figures);
`--verbose` shows the hub's warnings.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import os
import random
import signal
import statistics
import subprocess
import sys
import time
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from bench.pool import print_table, verdict
from endpoints.pool import BuiltinToolRegistry, ConnectionOptions, EndpointConfig, EndpointPool
from endpoints.pool.config import PeerLimits
from endpoints.upstreams.config import ReplicaConfig, ServerConfig, ToolSettings
from endpoints.upstreams.manager import UpstreamManager
from tests.endpoints.peers import REFERENCE_INITIALIZE, endpoint_url, make_token

REPO = Path(__file__).resolve().parent.parent
SERVER = "soak"
REPLICAS = 2
WARM_UP = 0.2  # share of the cycles before the slopes are taken
SAMPLE_EVERY = 1.0  # seconds between the hub child's samples
BATCH = 8  # tool calls in flight together within one connection
KILLS = 10  # upstream children SIGKILLed over the run
SLOW_TIMEOUT = 0.2  # the slow tool's timeout in the hub; it is asked to sleep longer
# How each connection ends (weights): see the module docstring.
ENDINGS = {
    "at open": 5,
    "mid-initialize": 5,
    "after initialize": 5,
    "after tools/list": 10,
    "after calls": 60,
    "mid-call": 15,
}
# Which tool each call asks for (weights).
CALLS = {"echo": 85, "fail": 5, "unknown": 5, "slow": 5}
# What may grow over the measured window, as predicted by the slope (else: "MISSED").
LIMITS = {"rss_mb": 8.0, "fds": 2.0, "tasks": 5.0, "children": 0.5, "zombies": 0.5}
OPTIONS = ConnectionOptions(
    reconnect_strategy="fixed-interval",
    reconnect_interval=0.05,
    max_reconnect_attempts=0,
    health_check_interval=30.0,
    connection_timeout=10.0,
)


# -- the hub child -----------------------------------------------------------------------


def server_config() -> ServerConfig:
    args = ("-m", "tests.endpoints.upstream_servers", "--transport", "stdio", "--name", SERVER)
    replica = ReplicaConfig(command=sys.executable, args=args, cwd=str(REPO))
    return ServerConfig(
        id=1, name=SERVER, transport="stdio", replicas=(replica,) * REPLICAS, call_timeout=10.0
    )


def sample(process: psutil.Process, outcomes: dict[str, int]) -> dict:
    gc.collect()  # garbage is not a leak: count what survives a collection
    children = process.children(recursive=True)
    zombies = sum(1 for c in children if _status(c) == psutil.STATUS_ZOMBIE)
    return {
        "t": time.monotonic(),
        "rss_mb": process.memory_info().rss / 2**20,
        "fds": process.num_fds(),
        "tasks": len(asyncio.all_tasks()),
        "children": len(children) - zombies,
        "zombies": zombies,
        "outcomes": dict(outcomes),
    }


def _status(process: psutil.Process) -> str:
    try:
        return process.status()
    except psutil.NoSuchProcess:
        return psutil.STATUS_ZOMBIE  # gone between listing and asking: not live


async def serve_hub(urls: list[str]) -> None:
    outcomes: dict[str, int] = {}
    reasons: dict[str, int] = {}  # of unavailable and error outcomes

    async def on_call(record) -> None:
        outcomes[record.outcome] = outcomes.get(record.outcome, 0) + 1
        if record.outcome in ("unavailable", "error"):
            reason = f"{record.outcome}: {record.error[:90]}"
            reasons[reason] = reasons.get(reason, 0) + 1

    manager = UpstreamManager(
        builtin=BuiltinToolRegistry(),
        on_call=on_call,
        replica_options={"backoff_start": 0.1, "backoff_max": 0.5},
    )
    pool = EndpointPool(registry=manager, peer_limits=PeerLimits(max_inflight=BATCH * 4))
    await manager.apply([server_config()])
    await manager.set_tool_settings({(1, "slow"): ToolSettings(timeout=SLOW_TIMEOUT)})
    while not all(r.ready for r in manager.server(1).replicas):
        await asyncio.sleep(0.05)
    configs = [
        EndpointConfig(id=i, name=f"soak-{i}", url=url, options=OPTIONS)
        for i, url in enumerate(urls, start=1)
    ]
    await pool.apply(configs)
    me = psutil.Process()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    if tracemalloc.is_tracing():
        snapshots: list = []
        asyncio.get_running_loop().add_signal_handler(
            signal.SIGUSR1, lambda: compare_snapshots(snapshots)
        )
    parent = os.getppid()
    while not stop.is_set() and os.getppid() == parent:
        ready = sum(1 for r in manager.server(1).replicas if r.ready)
        print(json.dumps(dict(sample(me, outcomes), reasons=reasons, ready=ready)), flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SAMPLE_EVERY)
    await pool.close()
    await manager.close()


def compare_snapshots(snapshots: list) -> None:
    """--trace: at each settled point, what grew since the previous one (to stderr)."""
    gc.collect()
    snapshots.append(tracemalloc.take_snapshot())
    if len(snapshots) < 2:
        return
    print("memory grown between the settled points (tracemalloc):", file=sys.stderr)
    for stat in snapshots[-1].compare_to(snapshots[-2], "traceback")[:12]:
        print(f"  {stat.size_diff / 1024:+.1f} KiB {stat.count_diff:+d} blocks", file=sys.stderr)
        for line in stat.traceback.format()[-6:]:
            print(f"    {line}", file=sys.stderr)


# -- the xiaozhi side --------------------------------------------------------------------


@dataclass
class Soak:
    cycles: int  # connections to end
    calls: int  # tool calls to make
    rng: random.Random = field(default_factory=lambda: random.Random(16))
    ended: int = 0  # connections ended
    called: int = 0  # tool calls sent
    answered: dict[str, int] = field(default_factory=dict)  # by kind of answer
    endings: dict[str, int] = field(default_factory=dict)
    idle: int = 0  # connections initialized and holding still (paused)
    paused: bool = False
    resume: asyncio.Event = field(default_factory=asyncio.Event)
    next_id: int = 1
    kills: int = 0  # upstream children SIGKILLed

    @property
    def calls_per_connection(self) -> int:
        calling = (ENDINGS["after calls"] + ENDINGS["mid-call"]) / sum(ENDINGS.values())
        return max(1, round(self.calls / (self.cycles * calling)))

    def done(self) -> bool:
        return self.ended >= self.cycles and self.called >= self.calls

    def count(self, table: dict[str, int], key: str) -> None:
        table[key] = table.get(key, 0) + 1


class Link:
    """One connection from the hub, as the broker drives it."""

    def __init__(self, ws: ServerConnection, soak: Soak) -> None:
        self.ws = ws
        self.soak = soak
        self.pending: dict[int, asyncio.Future] = {}
        self.reader: asyncio.Task | None = None

    async def request(self, method: str, params: dict) -> dict:
        request_id = self.soak.next_id
        self.soak.next_id += 1
        future = asyncio.get_running_loop().create_future()
        self.pending[request_id] = future
        await self.ws.send(
            json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        )
        return await future

    async def read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for frame in self.ws:
                message = json.loads(frame)
                if "method" in message:
                    if "id" in message:  # the hub's ping
                        reply = {"jsonrpc": "2.0", "id": message["id"], "result": {}}
                        await self.ws.send(json.dumps(reply))
                    continue
                future = self.pending.pop(message.get("id"), None)
                if future is not None and not future.done():
                    future.set_result(message)
        for future in self.pending.values():
            if not future.done():
                future.set_exception(ConnectionError("the hub closed the connection"))

    async def call(self, tool: str) -> None:
        soak = self.soak
        soak.called += 1
        if tool == "echo":
            name, arguments = f"{SERVER}__echo", {"text": "soak"}
        elif tool == "fail":
            name, arguments = f"{SERVER}__fail", {}
        elif tool == "slow":
            name, arguments = f"{SERVER}__slow", {"seconds": SLOW_TIMEOUT * 3}
        else:
            name, arguments = f"{SERVER}__nope", {}
        reply = await self.request("tools/call", {"name": name, "arguments": arguments})
        if "error" in reply:
            soak.count(soak.answered, f"error {reply['error']['code']}")
        elif reply["result"].get("isError"):
            soak.count(soak.answered, "isError")
        else:
            soak.count(soak.answered, "ok")


async def handle(ws: ServerConnection, soak: Soak) -> None:
    rng = soak.rng
    ending = "after tools/list" if soak.paused else pick(rng, ENDINGS)
    link = Link(ws, soak)
    try:
        if ending == "at open":
            return
        if ending == "mid-initialize":
            await ws.send(REFERENCE_INITIALIZE)
            return
        link.reader = asyncio.create_task(link.read())
        link.pending[0] = asyncio.get_running_loop().create_future()
        await ws.send(REFERENCE_INITIALIZE)  # id 0, as the broker sends it
        await link.pending[0]
        if ending == "after initialize":
            return
        await ws.send(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        await link.request("tools/list", {})
        if ending == "after tools/list":
            if soak.paused:
                soak.idle += 1
                try:
                    await soak.resume.wait()
                finally:
                    soak.idle -= 1
            return
        left = soak.calls_per_connection
        while left > 0:
            batch = [pick(rng, CALLS) for _ in range(min(BATCH, left))]
            left -= len(batch)
            calls = [asyncio.ensure_future(link.call(tool)) for tool in batch]
            if ending == "mid-call" and left <= 0:
                await asyncio.sleep(0)  # the frames are out; the answers are not in
                for call in calls:
                    call.cancel()
                return
            await asyncio.gather(*calls)
    except (ConnectionClosed, ConnectionError):
        ending = f"{ending} (hub closed first)"
    finally:
        soak.ended += 1
        soak.count(soak.endings, ending)
        if rng.random() < 0.5:
            ws.transport.abort()
        else:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 2)
        if link.reader is not None:
            link.reader.cancel()


def pick(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


class HubChild:
    """The hub process: its samples as they come, tagged with the driver's counters."""

    def __init__(self, urls: list[str], soak: Soak) -> None:
        self.soak = soak
        self.samples: list[dict] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.soak", "--serve-hub"],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.process.stdin.write(json.dumps(urls) + "\n")
        self.process.stdin.close()
        self._reader: asyncio.Task | None = None

    def start(self) -> None:
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        loop = asyncio.get_running_loop()
        while line := await loop.run_in_executor(None, self.process.stdout.readline):
            entry = json.loads(line)
            entry["cycles"] = self.soak.ended
            entry["calls"] = self.soak.called
            self.samples.append(entry)

    async def next_sample(self) -> dict:
        count = len(self.samples)
        while len(self.samples) <= count:
            await asyncio.sleep(0.05)
        return self.samples[-1]

    def upstream_children(self) -> list[psutil.Process]:
        try:
            found = psutil.Process(self.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        return [c for c in found if _status(c) != psutil.STATUS_ZOMBIE]

    async def stop(self) -> None:
        self.process.terminate()
        deadline = time.monotonic() + 20
        while self.process.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self.process.poll() is None:
            self.process.kill()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._reader, 5)


async def settled(hub: HubChild, soak: Soak, endpoints: int) -> dict:
    """Pause the traffic until every endpoint is connected and idle; one sample then."""
    soak.paused = True
    soak.resume.clear()
    deadline = time.monotonic() + 60
    while soak.idle < endpoints and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await hub.next_sample()  # the one taken while the last ones came in
    entry = await hub.next_sample()
    entry = dict(entry, idle=soak.idle)
    hub.process.send_signal(signal.SIGUSR1)  # --trace: a tracemalloc snapshot (else ignored)
    await asyncio.sleep(0.5)
    soak.paused = False
    soak.resume.set()
    return entry


async def run(cycles: int, calls: int, endpoints: int) -> tuple[list, dict]:
    soak = Soak(cycles=cycles, calls=calls)
    started = time.monotonic()
    async with serve(
        lambda ws: handle(ws, soak), "127.0.0.1", 0, compression=None, ping_interval=None
    ) as server:
        port = server.sockets[0].getsockname()[1]
        urls = [endpoint_url(port, make_token()) for _ in range(endpoints)]
        hub = HubChild(urls, soak)
        hub.start()
        try:
            warm_at = int(cycles * WARM_UP)
            kill_every = max(1, cycles // KILLS)
            next_kill = kill_every
            last_kill = 0.0
            warm: dict | None = None
            last_report = time.monotonic()
            while not soak.done():
                await asyncio.sleep(0.05)
                if hub.process.poll() is not None:
                    raise RuntimeError("the hub child exited")
                if warm is None and soak.ended >= warm_at:
                    warm = await settled(hub, soak, endpoints)
                # A kill only once the hub has reported every replica ready since the
                # last one (a small run must not kill faster than an upstream restarts).
                latest = hub.samples[-1] if hub.samples else {}
                if (
                    soak.ended >= next_kill
                    and latest.get("ready") == REPLICAS
                    and latest["t"] > last_kill
                ):
                    live = hub.upstream_children()
                    if live:
                        next_kill += kill_every
                        soak.kills += 1
                        last_kill = time.monotonic()
                        with contextlib.suppress(psutil.NoSuchProcess):
                            soak.rng.choice(live).kill()
                if time.monotonic() - last_report > 10:
                    last_report = time.monotonic()
                    rate = soak.ended / (last_report - started)
                    print(
                        f"  {soak.ended}/{cycles} cycles, {soak.called}/{calls} calls "
                        f"({rate:.0f} cycles/s)",
                        file=sys.stderr,
                        flush=True,
                    )
            end = await settled(hub, soak, endpoints)
        finally:
            await hub.stop()
    elapsed = time.monotonic() - started
    window = [s for s in hub.samples if s["cycles"] >= int(cycles * WARM_UP)]
    return report(soak, hub.samples, window, warm, end, elapsed), soak.answered


def slope(points: list[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares slope of y against x, and its standard error."""
    xs = [x for x, _ in points]
    ys = [y for _, y in points]
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    if not spread or len(points) < 3:
        return 0.0, 0.0
    fitted = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread
    residuals = sum((y - mean_y - fitted * (x - mean_x)) ** 2 for x, y in points)
    return fitted, (residuals / (len(points) - 2) / spread) ** 0.5


def report(soak: Soak, samples: list, window: list, warm: dict, end: dict, elapsed: float):
    rows = []
    span = (window[-1]["cycles"] - window[0]["cycles"]) if len(window) > 1 else 0
    rows.append(
        (
            f"cycles / tool calls / upstream kills (in {elapsed:.0f} s)",
            f"{soak.ended} / {soak.called} / {soak.kills}",
            "",
            "",
        )
    )
    rows.append(
        (
            "  connection endings",
            ", ".join(f"{k} {v}" for k, v in sorted(soak.endings.items())),
            "",
            "",
        )
    )
    rows.append(
        (
            "  answers the xiaozhi side got",
            ", ".join(f"{k} {v}" for k, v in sorted(soak.answered.items())),
            "",
            "",
        )
    )
    rows.append(
        (
            "  call-log outcomes in the hub",
            ", ".join(f"{k} {v}" for k, v in sorted(samples[-1]["outcomes"].items())),
            "",
            "",
        )
    )
    for reason, count in sorted(samples[-1]["reasons"].items(), key=lambda r: -r[1])[:4]:
        rows.append((f"    {reason}", str(count), "", ""))
    rows.append(
        (
            f"samples after warm-up ({len(window)}, over {span} cycles)",
            "slope per 1,000 cycles (± 2 SE); growth over the window",
            "growth <=",
            "",
        )
    )
    units = {"rss_mb": "MiB", "fds": "", "tasks": "", "children": "", "zombies": ""}
    names = {
        "rss_mb": "worker RSS",
        "fds": "open file descriptors",
        "tasks": "asyncio tasks",
        "children": "live upstream child processes",
        "zombies": "zombie children",
    }
    for key, name in names.items():
        per_cycle, error = slope([(s["cycles"], s[key]) for s in window])
        growth = per_cycle * span
        values = [s[key] for s in window] or [0]
        unit = f" {units[key]}" if units[key] else ""
        # Flat: the growth the slope predicts is within the limit, or the slope is
        # noise (within two standard errors of 0: in-flight counts swing with load).
        rows.append(
            (
                f"  {name} (min-max {min(values):.1f}-{max(values):.1f}{unit})",
                f"{per_cycle * 1000:+.3f} ± {2 * error * 1000:.3f}{unit}; {growth:+.2f}{unit}",
                f"{LIMITS[key]:g}{unit}",
                verdict(growth <= LIMITS[key] or per_cycle <= 2 * error),
            )
        )
    rows.append(
        (
            "settled (traffic paused, every endpoint idle): end of warm-up -> end",
            f"idle {warm['idle']} -> {end['idle']}",
            "",
            "",
        )
    )
    for key, name in names.items():
        unit = f" {units[key]}" if units[key] else ""
        rows.append(
            (
                f"  {name}",
                f"{warm[key]:.1f} -> {end[key]:.1f}{unit} ({end[key] - warm[key]:+.1f})",
                f"{LIMITS[key]:g}{unit}",
                verdict(end[key] - warm[key] <= LIMITS[key]),
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve-hub", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cycles", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--endpoints", type=int, default=100)
    parser.add_argument("--verbose", action="store_true", help="the hub's warnings to stderr")
    parser.add_argument(
        "--trace", action="store_true", help="tracemalloc in the hub: what grew, to stderr"
    )
    args = parser.parse_args()
    # Drops and kills are provoked on purpose: their warnings are noise unless asked for.
    verbose = args.verbose or os.environ.get("SOAK_VERBOSE") == "1"
    logging.basicConfig(level=logging.WARNING if verbose else logging.CRITICAL)
    if verbose:
        os.environ["SOAK_VERBOSE"] = "1"  # the hub child too
    if args.trace:
        os.environ["SOAK_TRACE"] = "1"
    if args.serve_hub:
        if os.environ.get("SOAK_TRACE"):
            tracemalloc.start(12)
        else:
            signal.signal(signal.SIGUSR1, signal.SIG_IGN)
        asyncio.run(serve_hub(json.loads(sys.stdin.readline())))
        return
    full = (args.cycles, args.calls, args.endpoints) == (10_000, 100_000, 100)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    size = "" if full else " (reduced size)"
    print(
        f"soak benchmark{size}: {args.cycles} cycles, {args.calls} calls, "
        f"{args.endpoints} endpoints ({psutil.cpu_count()} CPUs, load {load})",
        flush=True,
    )
    rows, _ = asyncio.run(run(args.cycles, args.calls, args.endpoints))
    print_table(rows)


if __name__ == "__main__":
    main()
