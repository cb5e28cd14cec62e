"""Upstream MCP servers benchmark: `make bench NAME=upstream` prints one table.

Three processes for the call measurements, so that no number is one process's
GIL: this process plays the xiaozhi side (a WebSocket server that sends
`initialize` and `tools/call`, as the broker does); a hub child
(`EndpointPool` + `UpstreamManager`, one stdio upstream) and a pipe child
(the baseline) each dial into it. The pipe is how simple bridges do it: every
WebSocket text frame is written as one line to the stdio server's stdin and
every stdout line goes back as one frame, nothing parsed (on asyncio streams,
so a lean pipe: no thread per read as in some bridges). Both paths run the
same stdio server (`tests.endpoints.upstream_servers`), so the difference is
what the hub adds. Measured:

- tool-call round trip (`echo`): calls alternate hub / pipe; p50, p95 and the
  hub's added latency (median of the pairwise differences);
- throughput with 50 calls in flight on one endpoint, side by side in
  interleaved rounds: the pipe; the hub with every call through the SDK
  session (`--sdk-calls`, how calls went before the lean path); the hub
  with lean calls (raw JSON-RPC lines, endpoints/upstreams/lines.py); and
  the hub with lean calls over 2 stdio replicas. Ratios to the pipe over all
  calls and as the median of paired rounds, and the CPU per call of each
  process on the way (`--profile` writes a CPU-time cProfile of the lean hub
  child and prints where its time goes);
- aggregation: from `apply()` of 20 stdio servers with 50 tools each until
  `list_tools()` returns all 1,000, and one warm `list_tools()`;
- failover between two stdio replicas, measured on the manager in this
  process: call latency with both alive, the very first call after one
  replica is SIGKILLed (before the manager has seen it, so it really fails
  over: information), and the calls on the dead replica's round-robin turn once
  the death is seen (target: ≤ 5 ms extra).

With two cores the stdio server, the hub and this process compete for CPU:
read the "machine busy" rows next to the throughput ones.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import logging
import os
import pstats
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from bench.pool import print_table, verdict
from endpoints.pool import BuiltinToolRegistry, EndpointConfig, EndpointPool
from endpoints.pool.config import PeerLimits
from endpoints.pool.protocol import encode
from endpoints.upstreams.config import ReplicaConfig, ServerConfig
from endpoints.upstreams.manager import UpstreamManager
from tests.endpoints.peers import endpoint_url, make_token
from tests.endpoints.upstream_servers import build_server

REPO = Path(__file__).resolve().parent.parent
SERVER_MODULE = "tests.endpoints.upstream_servers"
SERVER = "bench"  # the upstream's name in the hub: tools are exposed as bench__<tool>
LATENCY_CALLS = 1000
THROUGHPUT_CALLS = 1250  # per round
IN_FLIGHT = 50
# pipe, sdk, hub, replicas, pipe, ...: drift on the machine hits all alike, and each
# round's ratio to the pipe round just before it is one paired sample.
THROUGHPUT_ROUNDS = 8
AGGREGATE_SERVERS = 20
AGGREGATE_TOOLS = 50
FAILOVER_CALLS = 300
FAILOVER_KILLS = 3

INITIALIZE = json.dumps(
    {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": "2024-11-05",
            "capabilities": {"sampling": {}, "roots": {"listChanged": False}},
            "clientInfo": {"name": "xz-mcp-broker", "version": "0.0.1"},
        },
    }
)
INITIALIZED = json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"})


def server_argv(*extra: str) -> list[str]:
    return [sys.executable, "-m", SERVER_MODULE, "--transport", "stdio", *extra]


def stdio_server(server_id: int, name: str, *extra: str, replicas: int = 1) -> ServerConfig:
    argv = server_argv("--name", name, *extra)
    replica = ReplicaConfig(command=argv[0], args=tuple(argv[1:]), cwd=str(REPO))
    return ServerConfig(id=server_id, name=name, transport="stdio", replicas=(replica,) * replicas)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
    return total


def family(pid: int) -> tuple[int, list[int]]:
    """(the process, its descendants): the hub or pipe child, and its stdio server."""
    process = psutil.Process(pid)
    return pid, [child.pid for child in process.children(recursive=True)]


@contextlib.asynccontextmanager
async def child(*args: str):
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.upstream", *args], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        yield process
    finally:
        # Wait without blocking the loop: the child's closing handshake needs our answer.
        process.terminate()
        deadline = time.monotonic() + 15
        while process.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if process.poll() is None:
            process.kill()
            process.wait()


# -- the xiaozhi side: one link per connection the hub or the pipe dialled ---------


class PeerLink:
    """The broker's end of one endpoint connection: numbered requests, replies by id."""

    def __init__(self, ws: ServerConnection) -> None:
        self.ws = ws
        self._pending: dict[int, asyncio.Future] = {}
        self._next_id = 1
        self._reader: asyncio.Task | None = None

    async def handshake(self) -> None:
        await self.ws.send(INITIALIZE)
        reply = json.loads(await self.ws.recv())
        assert "result" in reply, reply
        await self.ws.send(INITIALIZED)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self._dispatch()

    async def _dispatch(self) -> None:
        async for frame in self.ws:
            message = json.loads(frame)
            if "method" in message:
                if "id" in message:  # the hub's health ping
                    reply = {"jsonrpc": "2.0", "id": message["id"], "result": {}}
                    await self.ws.send(json.dumps(reply))
                continue  # notifications (list_changed, logs) are not waited for
            future = self._pending.pop(message.get("id"), None)
            if future is not None and not future.done():
                future.set_result(message)

    async def call(self, tool: str, text: str = "hello") -> float:
        """One tools/call round trip in ms; the echoed text is checked."""
        request_id = self._next_id
        self._next_id += 1
        future = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        frame = json.dumps(
            {
                "jsonrpc": "2.0",
                "id": request_id,
                "method": "tools/call",
                "params": {"name": tool, "arguments": {"text": text}},
            }
        )
        started = time.perf_counter()
        await self.ws.send(frame)
        reply = await future
        elapsed = (time.perf_counter() - started) * 1000
        content = reply.get("result", {}).get("content") or [{}]
        if content[0].get("text") != text:
            raise AssertionError(f"{tool}: unexpected reply {reply}")
        return elapsed


class Broker:
    """The WebSocket server both the hub and the pipe dial into; links by path."""

    def __init__(self) -> None:
        self.links: dict[str, asyncio.Future] = {}

    def url(self, port: int, kind: str) -> str:
        self.links[kind] = asyncio.get_running_loop().create_future()
        return endpoint_url(port, make_token(), path=f"/{kind}/")

    async def __call__(self, ws: ServerConnection) -> None:
        kind = ws.request.path.split("?")[0].strip("/")
        link = PeerLink(ws)
        await link.handshake()
        self.links[kind].set_result(link)
        await ws.wait_closed()


# How each kind of child dials in: the pipe, and the hub in three set-ups.
KINDS = {
    "pipe": ("--serve-pipe",),
    "hub": ("--serve-hub",),  # lean tool calls (the default)
    "sdk": ("--serve-hub", "--sdk-calls"),  # every call through the SDK session (before)
    "replicas": ("--serve-hub", "--replicas", "2"),  # lean, 2 stdio replicas
}
TOOLS = {kind: "echo" if kind == "pipe" else f"{SERVER}__echo" for kind in KINDS}


@contextlib.asynccontextmanager
async def paths(*kinds: str, profile: str | None = None):
    """({kind: link}, {kind: (pid, [server pids])}) once every child has dialled in."""
    broker = Broker()
    async with serve(broker, "127.0.0.1", 0, compression=None, ping_interval=None) as server:
        port = server.sockets[0].getsockname()[1]
        async with contextlib.AsyncExitStack() as stack:
            children = {}
            for kind in kinds:
                args = [*KINDS[kind][:1], broker.url(port, kind), *KINDS[kind][1:]]
                if profile and kind == "hub":
                    args += ["--profile-to", profile]
                children[kind] = await stack.enter_async_context(child(*args))
            links = {kind: await asyncio.wait_for(broker.links[kind], 60) for kind in kinds}
            yield links, {kind: family(process.pid) for kind, process in children.items()}


# -- measurements ----------------------------------------------------------------------


async def bench_latency(rows: list, profile: str | None) -> None:
    async with paths("hub", "pipe") as (links, _procs):
        via_hub, via_pipe = links["hub"], links["pipe"]
        for _ in range(50):  # warm-up: imports, first-call costs, caches
            await via_hub.call(f"{SERVER}__echo")
            await via_pipe.call("echo")
        pairs = [
            (await via_hub.call(f"{SERVER}__echo"), await via_pipe.call("echo"))
            for _ in range(LATENCY_CALLS)
        ]
    hub = [h for h, _ in pairs]
    pipe = [p for _, p in pairs]
    added = statistics.median(h - p for h, p in pairs)
    label = f"{LATENCY_CALLS} each, alternating"
    rows.append(
        (
            f"echo round trip, direct pipe ({label}) p50 / p95",
            f"{statistics.median(pipe):.3f} / {percentile(pipe, 0.95):.3f} ms",
            "",
            "",
        )
    )
    rows.append(
        (
            f"echo round trip, through the hub ({label}) p50 / p95",
            f"{statistics.median(hub):.3f} / {percentile(hub, 0.95):.3f} ms",
            "",
            "",
        )
    )
    rows.append(
        (
            "  hub's added p50 latency (median of pairwise differences)",
            f"{added:.3f} ms",
            "<= 1.5 ms",
            verdict(added <= 1.5),
        )
    )


async def blast(link: PeerLink, tool: str, total: int, in_flight: int) -> float:
    """Seconds to make `total` calls with `in_flight` outstanding at every moment."""
    remaining = total

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await link.call(tool)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    return time.perf_counter() - started


async def bench_throughput(rows: list, profile: str | None) -> None:
    kinds = ("pipe", "sdk", "hub", "replicas")
    elapsed = dict.fromkeys(kinds, 0.0)
    rounds: dict[str, list[float]] = {kind: [] for kind in kinds}  # calls/s of each round
    # [the xiaozhi side (this process), hub or pipe process, its stdio server(s)]
    cpu = {kind: [0.0, 0.0, 0.0] for kind in kinds}
    async with paths(*kinds, profile=profile) as (links, procs):
        for kind, link in links.items():  # warm-up
            await blast(link, TOOLS[kind], 500, IN_FLIGHT)
        for _ in range(THROUGHPUT_ROUNDS):
            for kind, link in links.items():
                own, servers = procs[kind]
                before = (time.process_time(), cpu_seconds([own]), cpu_seconds(servers))
                seconds = await blast(link, TOOLS[kind], THROUGHPUT_CALLS, IN_FLIGHT)
                elapsed[kind] += seconds
                rounds[kind].append(THROUGHPUT_CALLS / seconds)
                after = (time.process_time(), cpu_seconds([own]), cpu_seconds(servers))
                for i in range(3):
                    cpu[kind][i] += after[i] - before[i]
    calls = THROUGHPUT_CALLS * THROUGHPUT_ROUNDS
    rate = {kind: calls / seconds for kind, seconds in elapsed.items()}
    label = f"{THROUGHPUT_ROUNDS} x {THROUGHPUT_CALLS} calls, {IN_FLIGHT} in flight"
    names = {
        "pipe": "direct pipe",
        "sdk": "hub, calls through the SDK session (before)",
        "hub": "hub, lean calls (after)",
        "replicas": "hub, lean calls, 2 stdio replicas",
    }
    targets = {"sdk": ("", None), "hub": (">= 1.00x", 1.0), "replicas": (">= 1.30x", 1.3)}
    rows.append((f"throughput ({label}, rounds interleaved):", "", "", ""))
    for kind in kinds:
        spread = f"{min(rounds[kind]):.0f}-{max(rounds[kind]):.0f}"
        rows.append((f"  {names[kind]}", f"{rate[kind]:.0f} calls/s (rounds {spread})", "", ""))
    for kind, (target, floor) in targets.items():
        ratio = rate[kind] / rate["pipe"]
        paired = statistics.median(x / p for x, p in zip(rounds[kind], rounds["pipe"], strict=True))
        rows.append(
            (
                f"    {names[kind]} / pipe (all calls; median of paired rounds)",
                f"{ratio:.2f}x; {paired:.2f}x",
                target,
                "" if floor is None else verdict(ratio >= floor),
            )
        )
    rows.append(("    lean / SDK calls", f"{rate['hub'] / rate['sdk']:.2f}x", "", ""))
    cores = psutil.cpu_count()
    for kind in kinds:
        peer, own, server = (seconds / calls * 1000 for seconds in cpu[kind])
        busy = sum(cpu[kind]) / elapsed[kind] / cores * 100
        rows.append(
            (
                f"  CPU per call, {kind}: xiaozhi side / {'pipe' if kind == 'pipe' else 'hub'}"
                " / stdio server(s)",
                f"{peer:.3f} / {own:.3f} / {server:.3f} ms",
                "",
                f"busy {busy:.0f} % of {cores}",
            )
        )


async def wait_for_tools(manager: UpstreamManager, count: int, timeout: float) -> list:
    deadline = time.perf_counter() + timeout
    while True:
        tools = await manager.list_tools()
        if len(tools) >= count or time.perf_counter() > deadline:
            return tools
        await asyncio.sleep(0.002)


async def bench_aggregate(rows: list, profile: str | None) -> None:
    builtin = BuiltinToolRegistry()
    builtins = len(await builtin.list_tools())
    # The test server always has its handful of fixed tools; generate the rest.
    fixed = len(await build_server("probe").list_tools())
    generated = str(AGGREGATE_TOOLS - fixed)
    configs = [
        stdio_server(i, f"s{i:02d}", "--tools", generated) for i in range(1, AGGREGATE_SERVERS + 1)
    ]

    async def aggregate(servers: list[ServerConfig]) -> tuple[float, UpstreamManager, int]:
        manager = UpstreamManager(builtin=builtin)
        wanted = len(servers) * AGGREGATE_TOOLS + builtins
        started = time.perf_counter()
        await manager.apply(servers)
        tools = await wait_for_tools(manager, wanted, 120)
        return time.perf_counter() - started, manager, len(tools) - builtins

    single, manager, one = await aggregate(configs[:1])  # what one stdio process costs
    await manager.close()
    hub_cpu = time.process_time()
    elapsed, manager, listed = await aggregate(configs)
    hub_cpu = time.process_time() - hub_cpu
    servers_cpu = cpu_seconds([c.pid for c in psutil.Process().children(recursive=True)])
    warm = []
    for _ in range(50):
        started = time.perf_counter()
        await manager.list_tools()
        warm.append(time.perf_counter() - started)
    # What a peer's tools/list costs the hub: the registry plus the JSON-RPC answer.
    pool = EndpointPool(registry=manager)
    answer = []
    for request_id in range(20):
        started = time.perf_counter()
        reply = await pool.serve({"jsonrpc": "2.0", "id": request_id, "method": "tools/list"})
        encode(reply)
        answer.append(time.perf_counter() - started)
    size = len(encode(reply))
    await manager.close()

    total = AGGREGATE_SERVERS * AGGREGATE_TOOLS
    rows.append(
        (f"aggregate 1 stdio server x {AGGREGATE_TOOLS} tools ({one} listed)", ms(single), "", "")
    )
    rows.append(
        (
            f"aggregate {AGGREGATE_SERVERS} stdio servers x {AGGREGATE_TOOLS} tools "
            f"(apply -> list_tools has {listed}/{total})",
            ms(elapsed),
            "",
            "" if listed >= total else "MISSED",
        )
    )
    rows.append(
        (
            f"  CPU meanwhile: hub / the {AGGREGATE_SERVERS} server processes (start + list)",
            f"{hub_cpu * 1000:.0f} / {servers_cpu * 1000:.0f} ms",
            "",
            "",
        )
    )
    rows.append(
        (
            f"  warm list_tools() of {listed} + {builtins} tools (median of 50)",
            f"{statistics.median(warm) * 1e6:.1f} µs",
            "",
            "",
        )
    )
    rows.append(
        (
            f"  tools/list answer to a peer, {size / 1024:.0f} KB JSON (median of 20)",
            ms(statistics.median(answer)),
            "",
            "",
        )
    )


async def timed_manager_call(manager: UpstreamManager, tool: str) -> tuple[float, int]:
    """(ms, pid of the replica that answered: whoami says '<name>:<pid>')."""
    started = time.perf_counter()
    result = await manager.call_tool(tool, {})
    elapsed = (time.perf_counter() - started) * 1000
    return elapsed, int(result.content[0].text.rsplit(":", 1)[1])


async def ready_replicas(manager: UpstreamManager, count: int, timeout: float) -> list[int]:
    """Wait until exactly `count` replicas are routable; their pids."""
    server = manager.server(1)
    deadline = time.perf_counter() + timeout
    while True:
        ready = [replica.pid for replica in server.replicas if replica.ready]
        if len(ready) == count:
            return ready
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{len(ready)} replicas ready, waited for {count}")
        await asyncio.sleep(0.001)


async def bench_failover(rows: list, profile: str | None) -> None:
    records: list = []

    async def on_call(record) -> None:
        records.append(record)

    manager = UpstreamManager(builtin=BuiltinToolRegistry(), on_call=on_call)
    await manager.apply([stdio_server(1, SERVER, replicas=2)])
    tool = f"{SERVER}__whoami"
    await ready_replicas(manager, 2, 60)
    for _ in range(100):  # warm-up, both replicas
        await timed_manager_call(manager, tool)
    alive = [(await timed_manager_call(manager, tool))[0] for _ in range(FAILOVER_CALLS)]

    first_calls: list[float] = []
    first_failovers: list[int] = []  # 1: the call met the dead replica and failed over
    seen_ms: list[float] = []
    after: list[float] = []
    for _ in range(FAILOVER_KILLS):
        pids = await ready_replicas(manager, 2, 30)
        # Round-robin: the replica that did not answer last is next; kill that one so
        # the next call lands on a dead replica.
        _, last = await timed_manager_call(manager, tool)
        victim = next(pid for pid in pids if pid != last)
        killed_at = time.perf_counter()
        os.kill(victim, signal.SIGKILL)
        first, answered = await timed_manager_call(manager, tool)
        assert answered == last, (answered, last)
        first_calls.append(first)
        await asyncio.sleep(0.001)  # the call record is delivered by a task
        first_failovers.append(records[-1].failovers)
        await ready_replicas(manager, 1, 10)
        seen_ms.append((time.perf_counter() - killed_at) * 1000)
        # The restart waits out its backoff (>= 0.4 s): these calls all see one replica.
        after.extend([(await timed_manager_call(manager, tool))[0] for _ in range(100)])
    await manager.close()

    base = statistics.median(alive)
    # Every second call is the dead replica's turn; take the slower half.
    turn = max(statistics.median(after[0::2]), statistics.median(after[1::2]))
    extra = turn - base
    rows.append(
        (
            f"failover: whoami, 2 live replicas, round-robin (median of {len(alive)})",
            f"{base:.3f} ms",
            "",
            "",
        )
    )
    rows.append(
        (
            f"  first call after SIGKILL of its replica (not yet seen), {FAILOVER_KILLS} kills",
            " / ".join(f"{x:.2f}" for x in first_calls)
            + f" ms (failed over: {' / '.join(map(str, first_failovers))})",
            "(info)",
            "",
        )
    )
    rows.append(
        (
            "  SIGKILL -> the manager stops routing to the dead replica",
            " / ".join(f"{x:.2f}" for x in seen_ms) + " ms",
            "(info)",
            "",
        )
    )
    rows.append(
        (
            f"  calls on the dead replica's turn once seen (median of {len(after) // 2})",
            f"{turn:.3f} ms",
            "",
            "",
        )
    )
    rows.append(
        (
            "  extra latency on the dead replica's turn, once seen",
            f"{extra:.3f} ms",
            "<= 5 ms",
            verdict(extra <= 5),
        )
    )


# -- child roles -------------------------------------------------------------------------


async def serve_hub(url: str, *, lean: bool = True, replicas: int = 1) -> None:
    pool: EndpointPool | None = None

    async def tools_changed() -> None:
        if pool is not None:
            await pool.notify_tools_changed()

    manager = UpstreamManager(
        builtin=BuiltinToolRegistry(),
        on_tools_changed=tools_changed,
        replica_options={"lean": lean},
    )
    # The bench keeps IN_FLIGHT calls outstanding on one connection: allow them.
    pool = EndpointPool(registry=manager, peer_limits=PeerLimits(max_inflight=IN_FLIGHT * 2))
    await manager.apply([stdio_server(1, SERVER, replicas=replicas)])
    await ready_replicas(manager, replicas, 60)
    await wait_for_tools(manager, 3, 60)  # the builtins and the upstream's tools
    await pool.apply([EndpointConfig(id=1, name="bench", url=url)])
    await stopped()
    await pool.close()
    await manager.close()


async def serve_pipe(url: str) -> None:
    """The baseline bridge: frames to stdin lines, stdout lines to frames, nothing parsed."""
    argv = server_argv("--name", SERVER)
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=REPO,
        limit=1 << 24,
    )
    async with connect(url, compression=None, ping_interval=None, max_size=None) as ws:

        async def to_server() -> None:
            async for frame in ws:
                data = frame.encode() if isinstance(frame, str) else frame
                process.stdin.write(data + b"\n")
                await process.stdin.drain()

        async def to_socket() -> None:
            while line := await process.stdout.readline():
                await ws.send(line.rstrip(b"\n").decode())

        tasks = [asyncio.create_task(to_server()), asyncio.create_task(to_socket())]
        await stopped(*tasks)
        for task in tasks:
            task.cancel()
    process.kill()
    await process.wait()


async def stopped(*watched: asyncio.Task) -> None:
    """Until SIGTERM (so that a profile can still be written), the bench process is gone,
    or one of `watched` ends (the pipe's socket closed): never an orphan."""
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    parent = os.getppid()
    while not stop.is_set() and os.getppid() == parent and not any(t.done() for t in watched):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)


def run_profiled(coroutine, path: str | None) -> None:
    if not path:
        asyncio.run(coroutine)
        return
    # CPU time, not wall time: on a busy machine a syscall that gets preempted would
    # otherwise look expensive.
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    try:
        asyncio.run(coroutine)
    finally:
        profiler.disable()
        profiler.dump_stats(path)


def print_profile(path: str, limit: int = 30) -> None:
    """Own time first (the hot leaves), then cumulative (which layer they belong to).

    cProfile counts every resumption of a coroutine as a call; read ncalls so."""
    for order in ("tottime", "cumulative"):
        out = io.StringIO()
        stats = pstats.Stats(path, stream=out)
        stats.strip_dirs().sort_stats(order).print_stats(limit)
        print(f"\nhub child, cProfile over the throughput part, by {order}:")
        print(out.getvalue().split("\n\n", 2)[-1].rstrip())


# -- main ------------------------------------------------------------------------------------


STEPS = {
    "latency": bench_latency,
    "throughput": bench_throughput,
    "aggregate": bench_aggregate,
    "failover": bench_failover,
}


async def run(only: str | None, profile: str | None) -> list:
    rows: list = []
    for name, step in STEPS.items():
        if only and name != only:
            continue
        started = time.perf_counter()
        await step(rows, profile)
        print(f"  {step.__name__}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve-hub", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--serve-pipe", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--profile-to", metavar="FILE", help=argparse.SUPPRESS)
    parser.add_argument("--sdk-calls", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--replicas", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--only", choices=STEPS, help="run one measurement")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the hub during the throughput part"
    )
    args = parser.parse_args()
    # Kills and restarts are provoked on purpose; their warnings are noise here.
    logging.getLogger("endpoints").setLevel(logging.ERROR)
    if args.serve_hub:
        hub = serve_hub(args.serve_hub, lean=not args.sdk_calls, replicas=args.replicas)
        run_profiled(hub, args.profile_to)
    elif args.serve_pipe:
        asyncio.run(serve_pipe(args.serve_pipe))
    else:
        cpu = psutil.cpu_count()
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        python = sys.version.split()[0]
        print(f"upstream servers benchmark ({cpu} CPUs, load {load}, Python {python})", flush=True)
        profile = None
        if args.profile:
            handle, profile = tempfile.mkstemp(prefix="hub-", suffix=".prof")
            os.close(handle)
        print_table(asyncio.run(run(args.only, profile)))
        if profile:
            if os.path.getsize(profile):  # written when the throughput part ran
                print_profile(profile)
            os.unlink(profile)


if __name__ == "__main__":
    main()
