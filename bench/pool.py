"""Endpoint pool benchmark: `make bench NAME=pool` prints one table.

The hub side (an `EndpointPool`) runs in this process; the loopback xiaozhi
peers run in separate processes (`python -m tests.endpoints.peers`), so their
CPU and memory are not counted as the hub's. Measured:

- time until every endpoint is connected and initialized, 1 vs 100 endpoints,
  on a bare loopback and with a simulated link delay (the peer waits 50 or
  100 ms before answering the WebSocket handshake and again before sending
  `initialize`, as a distant relay would). On a bare loopback one connect
  takes ~3 ms, so the 100/1 ratio there is the hub's CPU per connect times
  100; the delayed rows show what concurrency buys on a real network;
- resident memory per connection with 1,000 endpoints in one process;
- CPU used by health checks with 100 endpoints (pinged every second, scaled
  to the 30 s default);
- failover switch time: from the loss of the chosen connection being seen to
  the request being written to the next endpoint;
- the hub's added latency on a tools/call round trip: peer → hub → registry
  → peer, against the same client talking to a bare echo server directly
  (calls alternate between the two; the hub and the echo server each run in
  their own process, whose CPU per call is shown too).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import resource
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import psutil
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from endpoints.pool import BuiltinToolRegistry, ConnectionOptions, EndpointConfig, EndpointPool
from tests.endpoints.peers import (
    REFERENCE_INITIALIZE,
    REFERENCE_INITIALIZED,
    endpoint_url,
    make_token,
)

REPO = Path(__file__).resolve().parent.parent
LATENCIES = (0.0, 0.05, 0.1)  # simulated link delay before the handshake answer and initialize
MEMORY_ENDPOINTS = 1000
CPU_ENDPOINTS = 100
CPU_INTERVAL = 1.0
CPU_WINDOW = 8.0
FAILOVER_SAMPLES = 100
CALLS = 1000
CALL_FRAME = json.dumps(
    {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {"name": "hub__echo", "arguments": {"text": "hello"}},
    }
)


# -- helpers ---------------------------------------------------------------


@contextmanager
def peer_process(*args: str):
    """A loopback peer in its own process; yields its port."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.endpoints.peers", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"peer did not start: {line!r}")
        yield int(line.split()[1])
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def child(*args: str):
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.pool", *args], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)


class ReadyCounter:
    """on_status callback: fires `done` once `target` endpoints are initialized."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.ready: set[int] = set()
        self.done = asyncio.Event()

    async def __call__(self, status, state_changed: bool) -> None:
        if status.initialized:
            self.ready.add(status.endpoint_id)
            if len(self.ready) >= self.target:
                self.done.set()


def configs(port: int, count: int, options: ConnectionOptions, start: int = 1) -> list:
    return [
        EndpointConfig(
            id=i, name=f"bench-{i}", url=endpoint_url(port, make_token()), options=options
        )
        for i in range(start, start + count)
    ]


async def connect_all(
    port: int, count: int, options: ConnectionOptions | None = None
) -> tuple[float, float]:
    """(seconds until all `count` endpoints are initialized, hub CPU seconds spent on it)."""
    options = options or ConnectionOptions()
    counter = ReadyCounter(count)
    pool = EndpointPool(registry=BuiltinToolRegistry(), on_status=counter)
    wanted = configs(port, count, options)
    cpu_before, started = time.process_time(), time.perf_counter()
    await pool.apply(wanted)
    await asyncio.wait_for(counter.done.wait(), 60)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_before
    await pool.close()
    return elapsed, cpu


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def raise_fd_limit(needed: int) -> str:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        new = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        soft = new
    return str(soft)


# -- measurements ------------------------------------------------------------


async def bench_connect(rows: list) -> None:
    for latency in LATENCIES:
        label = f"+{latency * 1000:.0f} ms per leg" if latency else "bare loopback"
        with peer_process("--mode", "idle", "--latency", str(latency)) as port:
            await connect_all(port, 5)  # warm-up: imports, first-connection costs
            one = statistics.median([(await connect_all(port, 1))[0] for _ in range(5)])
            runs = [await connect_all(port, 100) for _ in range(5)]
            hundred = statistics.median(elapsed for elapsed, _cpu in runs)
            cpu_per_connection = sum(cpu for _elapsed, cpu in runs) / (100 * len(runs))
        ratio = hundred / one
        rows.append((f"connect 1 endpoint ({label})", ms(one), "", ""))
        rows.append((f"connect 100 endpoints ({label})", ms(hundred), "", ""))
        rows.append(
            (f"  ratio 100 / 1 ({label})", f"{ratio:.2f}x", "<= 1.2x", verdict(ratio <= 1.2))
        )
    rows.append(
        ("  hub CPU per connect (dial + handshake + initialize)", ms(cpu_per_connection), "", "")
    )


async def bench_memory(rows: list) -> None:
    limit = raise_fd_limit(MEMORY_ENDPOINTS * 2 + 256)
    process = psutil.Process()
    with peer_process("--mode", "idle") as port:
        await connect_all(port, 5)  # warm-up
        gc.collect()
        before = process.memory_info().rss
        counter = ReadyCounter(MEMORY_ENDPOINTS)
        pool = EndpointPool(registry=BuiltinToolRegistry(), on_status=counter)
        await pool.apply(configs(port, MEMORY_ENDPOINTS, ConnectionOptions(connection_timeout=30)))
        await asyncio.wait_for(counter.done.wait(), 120)
        await asyncio.sleep(0.5)
        gc.collect()
        after = process.memory_info().rss
        await pool.close()
    per = (after - before) / MEMORY_ENDPOINTS / 1024
    rows.append(
        (
            f"RSS per connection ({MEMORY_ENDPOINTS} endpoints, fd soft limit {limit})",
            f"{per:.1f} KB",
            "<= 150 KB",
            verdict(per <= 150),
        )
    )


async def bench_health_cpu(rows: list) -> None:
    options = ConnectionOptions(health_check_interval=CPU_INTERVAL)
    with peer_process("--mode", "idle") as port:
        counter = ReadyCounter(CPU_ENDPOINTS)
        pool = EndpointPool(registry=BuiltinToolRegistry(), on_status=counter)
        await pool.apply(configs(port, CPU_ENDPOINTS, options))
        await asyncio.wait_for(counter.done.wait(), 30)
        await asyncio.sleep(CPU_INTERVAL * 1.5)
        pings_before = sum(s.total_requests for s in pool.statuses())
        cpu_before, wall_before = time.process_time(), time.perf_counter()
        await asyncio.sleep(CPU_WINDOW)
        cpu = time.process_time() - cpu_before
        wall = time.perf_counter() - wall_before
        pings = sum(s.total_requests for s in pool.statuses()) - pings_before
        await pool.close()
    share = cpu / wall * 100
    at_default = share * CPU_INTERVAL / ConnectionOptions().health_check_interval
    rows.append(
        (
            f"health CPU, {CPU_ENDPOINTS} endpoints, {CPU_INTERVAL:g} s interval ({pings} pings)",
            f"{share:.3f} % of a core",
            "",
            "",
        )
    )
    rows.append(
        (
            f"health CPU, {CPU_ENDPOINTS} endpoints, 30 s default (scaled)",
            f"{at_default:.4f} % of a core",
            "< 0.2 %",
            verdict(at_default < 0.2),
        )
    )


async def bench_failover(rows: list) -> None:
    fast = ConnectionOptions(
        reconnect_interval=0.02, max_reconnect_delay=0.05, max_reconnect_attempts=0, jitter=False
    )
    samples: list[float] = []
    with (
        peer_process("--mode", "idle", "--drop-on", "bench/failover") as dropping,
        peer_process("--mode", "idle") as steady,
    ):
        counter = ReadyCounter(2)
        pool = EndpointPool(registry=BuiltinToolRegistry(), on_status=counter)
        await pool.apply(configs(dropping, 1, fast) + configs(steady, 1, fast, start=2))
        await asyncio.wait_for(counter.done.wait(), 10)
        deadline = time.monotonic() + 60
        while len(samples) < FAILOVER_SAMPLES and time.monotonic() < deadline:
            if pool.status(1).state != "connected" or not pool.status(1).initialized:
                await asyncio.sleep(0.01)
                continue
            result = await pool.request("bench/failover")
            samples.extend(result.switch_ms)
        await pool.close()
    samples.sort()
    p95 = samples[max(0, int(len(samples) * 0.95) - 1)]
    median = statistics.median(samples)
    rows.append(
        (
            f"failover switch ({len(samples)} failovers), median / p95",
            f"{median:.3f} / {p95:.3f} ms",
            "< 5 ms",
            verdict(p95 < 5),
        )
    )


async def bench_call_latency(rows: list) -> None:
    hub_side: asyncio.Future = asyncio.get_running_loop().create_future()

    async def as_xiaozhi(ws: ServerConnection) -> None:
        # The xiaozhi side of the hub's connection: the §1 handshake, then calls.
        await ws.send(REFERENCE_INITIALIZE)
        await ws.recv()
        await ws.send(REFERENCE_INITIALIZED)
        hub_side.set_result(ws)
        await ws.wait_closed()

    def cpu(process: subprocess.Popen) -> float:
        times = psutil.Process(process.pid).cpu_times()
        return times.user + times.system

    async with serve(as_xiaozhi, "127.0.0.1", 0, compression=None, ping_interval=None) as server:
        port = server.sockets[0].getsockname()[1]
        with (
            child("--serve-hub", endpoint_url(port, make_token())) as hub,
            child("--serve-echo") as echo,
        ):
            echo_port = int(echo.stdout.readline().split()[1])
            via_hub = await asyncio.wait_for(hub_side, 30)
            async with connect(
                f"ws://127.0.0.1:{echo_port}/", compression=None, ping_interval=None
            ) as direct:
                for _ in range(20):  # warm-up
                    await timed_call(via_hub)
                    await timed_call(direct)
                # Alternate the two paths so that load on the machine hits both alike.
                hub_cpu, echo_cpu = cpu(hub), cpu(echo)
                pairs = [
                    (await timed_call(via_hub), await timed_call(direct)) for _ in range(CALLS)
                ]
                hub_cpu, echo_cpu = cpu(hub) - hub_cpu, cpu(echo) - echo_cpu

    hub_ms = statistics.median(h for h, _ in pairs)
    direct_ms = statistics.median(d for _, d in pairs)
    added_ms = statistics.median(h - d for h, d in pairs)
    label = f"median of {CALLS}, alternating"
    rows.append((f"tools/call direct to an echo server ({label})", f"{direct_ms:.3f} ms", "", ""))
    rows.append((f"tools/call through the hub ({label})", f"{hub_ms:.3f} ms", "", ""))
    rows.append(
        ("  hub's added latency (median of the pairwise differences)", f"{added_ms:.3f} ms", "", "")
    )
    rows.append(
        (
            "  CPU per tools/call: hub process vs echo server",
            f"{hub_cpu / CALLS * 1000:.3f} vs {echo_cpu / CALLS * 1000:.3f} ms",
            "",
            "",
        )
    )


async def timed_call(ws) -> float:
    started = time.perf_counter()
    await ws.send(CALL_FRAME)
    while True:
        reply = json.loads(await ws.recv())
        if reply.get("method") != "ping":
            break
        # The hub's health ping: answer it, keep waiting for our reply (rare; a few µs).
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": reply["id"], "result": {}}))
    elapsed = (time.perf_counter() - started) * 1000
    assert reply["result"]["content"][0]["text"] == "hello", reply
    return elapsed


def verdict(passed: bool) -> str:
    return "ok" if passed else "MISSED"


# -- child roles ---------------------------------------------------------------


async def serve_hub(url: str) -> None:
    pool = EndpointPool(registry=BuiltinToolRegistry())
    await pool.apply([EndpointConfig(id=1, name="bench", url=url)])
    await asyncio.Event().wait()


async def serve_echo() -> None:
    """The baseline: answers tools/call hub__echo directly, with the same JSON work."""

    async def echo(ws: ServerConnection) -> None:
        async for frame in ws:
            request = json.loads(frame)
            text = request["params"]["arguments"]["text"]
            result = {"content": [{"type": "text", "text": text}], "isError": False}
            await ws.send(json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": result}))

    async with serve(echo, "127.0.0.1", 0, compression=None, ping_interval=None) as server:
        print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
        await asyncio.Event().wait()


# -- main ----------------------------------------------------------------------------


STEPS = {
    "connect": bench_connect,
    "memory": bench_memory,
    "health": bench_health_cpu,
    "failover": bench_failover,
    "latency": bench_call_latency,
}


async def run(only: str | None = None) -> list:
    rows: list = []
    for name, step in STEPS.items():
        if only and name != only:
            continue
        started = time.perf_counter()
        await step(rows)
        print(f"  {step.__name__}: {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return rows


def print_table(rows: list) -> None:
    headers = ("measure", "result", "target", "")
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(4)]
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
    parser.add_argument("--serve-hub", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--serve-echo", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--only", choices=STEPS, help="run one measurement")
    args = parser.parse_args()
    if args.serve_hub:
        asyncio.run(serve_hub(args.serve_hub))
    elif args.serve_echo:
        asyncio.run(serve_echo())
    else:
        cpu = psutil.cpu_count()
        # Failovers and drops are provoked on purpose; their warnings are noise here.
        logging.getLogger("endpoints.pool").setLevel(logging.ERROR)
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"endpoint pool benchmark ({cpu} CPUs, load {load}, Python {sys.version.split()[0]})")
        print_table(asyncio.run(run(args.only)))


if __name__ == "__main__":
    main()
