"""Self-hosted relay soak: `make bench NAME=relay_soak` prints one table (10 minutes).

One loopback mcp-endpoint-server look-alike (tests/endpoints/relay_peer.py) and
one `EndpointPool` with the hub's default connection options, both in this
process. Two endpoints on the same relay, each for its own agent, side by side:

- `relay`: the profile the hub resolves from the URL (/mcp_endpoint/mcp/);
- `broker (forced)`: the same kind of URL forced to the broker profile, i.e. the
  behaviour before peer profiles (an initialize deadline and MCP pings the
  relay drops).

Robots (device sessions) come and go for both agents at random moments, the
same schedule for both (one seed): sometimes two at once; each initializes,
lists the tools and makes a few concurrent `tools/call`s through the relay's
/call/ path, stays a while, leaves. Reported per endpoint: how long the tool
connection stayed up (longest stretch, share of the run), reconnects (tool
connections made minus one), robot sessions that got every answer right,
calls answered, and the endpoint's state at the end.

    python -m bench.relay_soak [--duration SECONDS] [--seed N]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import time
from dataclasses import dataclass, field

from endpoints.pool import (
    BROKER,
    BuiltinToolRegistry,
    ConnectionOptions,
    EndpointConfig,
    EndpointPool,
    profile_for,
)
from tests.endpoints.relay_peer import RelayPeer, RobotError

SAMPLE_EVERY = 0.25  # s between looks at the connection state
CALLS_PER_SESSION = 3


@dataclass
class Tally:
    name: str
    agent: str
    sessions: int = 0
    sessions_ok: int = 0
    calls: int = 0
    calls_ok: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    up_since: float | None = None
    longest_up: float = 0.0
    total_up: float = 0.0


async def robot_session(relay: RelayPeer, tally: Tally, stay: float) -> None:
    tally.sessions += 1
    session = tally.sessions
    ok = 0
    try:
        async with relay.robot(tally.agent) as robot:
            await robot.initialize()
            names = {tool["name"] for tool in await robot.list_tools()}
            if "hub__echo" not in names:
                raise RobotError({"message": "hub__echo not listed"})
            texts = [f"{tally.agent}-{session}-{n}" for n in range(CALLS_PER_SESSION)]
            tally.calls += len(texts)
            answers = await asyncio.gather(
                *(robot.call_tool("hub__echo", {"text": text}) for text in texts),
                return_exceptions=True,
            )
            for text, answer in zip(texts, answers, strict=True):
                if isinstance(answer, dict) and answer["content"][0]["text"] == text:
                    ok += 1
            tally.calls_ok += ok
            await asyncio.sleep(stay)
    except (RobotError, OSError, TimeoutError) as exc:
        key = str(exc)[:40] or type(exc).__name__
        tally.errors[key] = tally.errors.get(key, 0) + 1
        return
    if ok == CALLS_PER_SESSION:
        tally.sessions_ok += 1


async def robots(relay: RelayPeer, tallies: list[Tally], until: float, seed: int) -> None:
    """The same random schedule for every agent: a gap, then one or two sessions."""
    rng = random.Random(seed)
    loop = asyncio.get_running_loop()
    sessions: set[asyncio.Task] = set()
    while loop.time() < until:
        await asyncio.sleep(rng.uniform(3.0, 45.0))
        count = 2 if rng.random() < 0.3 else 1
        for _ in range(count):
            stay = rng.uniform(1.0, 20.0)
            for tally in tallies:
                task = asyncio.create_task(robot_session(relay, tally, stay))
                sessions.add(task)
                task.add_done_callback(sessions.discard)
    await asyncio.gather(*sessions, return_exceptions=True)


async def watch(pool: EndpointPool, tallies: dict[int, Tally], until: float) -> None:
    loop = asyncio.get_running_loop()
    while (now := loop.time()) < until:
        for endpoint_id, tally in tallies.items():
            status = pool.status(endpoint_id)
            up = status is not None and status.connected
            if up and tally.up_since is None:
                tally.up_since = now
            elif not up and tally.up_since is not None:
                stretch = now - tally.up_since
                tally.total_up += stretch
                tally.longest_up = max(tally.longest_up, stretch)
                tally.up_since = None
        await asyncio.sleep(SAMPLE_EVERY)
    for tally in tallies.values():
        if tally.up_since is not None:
            stretch = loop.time() - tally.up_since
            tally.total_up += stretch
            tally.longest_up = max(tally.longest_up, stretch)


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


async def soak(duration: float, seed: int) -> None:
    pool = EndpointPool(registry=BuiltinToolRegistry())
    options = ConnectionOptions()  # the hub's defaults: 30 s health interval, 10 s timeout
    async with RelayPeer() as relay:
        relay_url, broker_url = relay.tool_url("relay-agent"), relay.tool_url("broker-agent")
        configs = [
            EndpointConfig(
                id=1,
                name="relay",
                url=relay_url,
                options=options,
                profile=profile_for("auto", relay_url),
            ),
            EndpointConfig(
                id=2,
                name="broker (forced)",
                url=broker_url,
                options=options,
                profile=profile_for("broker", broker_url, broker=BROKER),
            ),
        ]
        tallies = {1: Tally("relay", "relay-agent"), 2: Tally("broker (forced)", "broker-agent")}
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        until = loop.time() + duration
        await pool.apply(configs)
        try:
            await asyncio.gather(
                watch(pool, tallies, until),
                robots(relay, list(tallies.values()), until, seed),
            )
            statuses = {i: pool.status(i) for i in tallies}
        finally:
            await pool.close()
        elapsed = time.monotonic() - started  # robots still inside at the end finish too
        connections = {
            tally.agent: sum(1 for c in relay.tool_connections if c.agent == tally.agent)
            for tally in tallies.values()
        }
    rows = [
        (
            "profile",
            "longest up",
            "up share",
            "reconnects",
            "robot sessions ok",
            "calls ok",
            "state at end",
        )
    ]
    for endpoint_id, tally in tallies.items():
        status = statuses[endpoint_id]
        state = status.state + (" (waiting for a device)" if status.waiting_for_device else "")
        rows.append(
            (
                tally.name,
                minutes(tally.longest_up),
                f"{100 * min(1.0, tally.total_up / duration):.1f} %",
                str(max(0, connections[tally.agent] - 1)),
                f"{tally.sessions_ok} / {tally.sessions}",
                f"{tally.calls_ok} / {tally.calls}",
                f"{state}, health {status.health_score:.0f}",
            )
        )
    print(f"relay soak: {minutes(elapsed)}, robots coming and going (seed {seed})")
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        print("| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |")
        if n == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for tally in tallies.values():
        if tally.errors:
            print(f"{tally.name}: robot errors {tally.errors}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds (default 600)")
    parser.add_argument("--seed", type=int, default=20)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(soak(args.duration, args.seed))


if __name__ == "__main__":
    main()
