"""One upstream server: its replicas, its tool list, and routing a call to a replica.

Failover policy (documented for operators):
- A replica whose transport fails before or during a call (child exited,
  connection closed, HTTP stream broken) is marked down (it restarts with
  backoff) and the call is retried on the next ready replica, within the same
  deadline.
- A call that reaches its timeout is answered with ToolTimeout (-32002) and is
  NOT retried elsewhere: the tool's own slowness is the answer, and retrying
  would run a possibly side-effecting tool twice. The timeout counts as an
  error in that replica's health window, so health-based balancing steers
  away from a replica that keeps timing out, and an idle HTTP replica that
  stopped answering fails its ping and is restarted.
- A tool's own `isError` result passes through unchanged (no failover).
- A malformed answer raises MalformedAnswer (-32000); the replica keeps serving.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
from collections.abc import Awaitable, Callable

from mcp import types

from ..pool.registry import ToolTimeout, ToolUnavailable
from .config import ServerConfig
from .passthrough import MalformedAnswer
from .records import ServerState, ServerStatus, UpstreamTool
from .replica import Replica, ReplicaDown

logger = logging.getLogger("endpoints.upstreams")

__all__ = ["UpstreamServer", "CallOutcome", "MalformedAnswer"]

# Replica states after a first try that did not list (it retries with backoff).
FIRST_TRY_FAILED = frozenset({"restarting", "failed", "stopped"})


class CallOutcome:
    """What a call through the server produced, besides the result."""

    __slots__ = ("replica", "failovers")

    def __init__(self) -> None:
        self.replica: int | None = None
        self.failovers = 0


class UpstreamServer:
    def __init__(
        self,
        config: ServerConfig,
        *,
        on_tools: Callable[[UpstreamServer], Awaitable[None]],
        on_state: Callable[[UpstreamServer], None],
        replica_options: dict | None = None,
    ) -> None:
        self.config = config
        self.tools: list[UpstreamTool] = []
        self.listed = False
        # Set once the first listing is in (and offered), every replica's first try
        # failed, or the server closed: an endpoint's tools/list stops waiting for it.
        self.settled = asyncio.Event()
        self.started_at: float | None = None  # time.monotonic() of start()
        self._on_tools = on_tools
        self._on_state = on_state
        self._rr = itertools.count()
        self.replicas = [
            Replica(
                index,
                config.transport,
                replica,
                on_state=self._replica_state,
                on_tools=self._replica_tools,
                **(replica_options or {}),
            )
            for index, replica in enumerate(config.replicas)
        ]

    @property
    def id(self) -> int:
        return self.config.id

    @property
    def name(self) -> str:
        return self.config.name

    def start(self) -> None:
        self.started_at = time.monotonic()
        for replica in self.replicas:
            replica.start()

    async def close(self) -> None:
        self.settled.set()
        await asyncio.gather(*(replica.close() for replica in self.replicas))

    @property
    def ready(self) -> bool:
        return any(replica.ready for replica in self.replicas)

    def state(self) -> ServerState:
        states = {replica.state for replica in self.replicas}
        for state in ("ready", "starting", "restarting", "failed"):
            if state in states:
                return state  # type: ignore[return-value]
        return "stopped"

    def status(self) -> ServerStatus:
        errors = [r.last_error for r in self.replicas if r.last_error]
        return ServerStatus(
            server_id=self.id,
            name=self.name,
            state=self.state(),
            replicas=tuple(r.status() for r in self.replicas),
            tool_count=len(self.tools),
            last_error=errors[-1] if errors else "",
        )

    async def refresh(self) -> None:
        for replica in self.replicas:
            if replica.ready:
                replica.request_relist()
                return

    # --- replica callbacks ---------------------------------------------------------------

    def _replica_state(self, replica: Replica) -> None:
        if not self.listed and all(r.state in FIRST_TRY_FAILED for r in self.replicas):
            self.settled.set()
        self._on_state(self)

    async def _replica_tools(self, replica: Replica, tools: list[UpstreamTool]) -> None:
        # All replicas offer the same tools: the newest listing wins (a reconnect or a
        # list_changed re-lists).
        self.tools = tools
        self.listed = True
        try:
            await self._on_tools(self)
        finally:
            self.settled.set()  # after on_tools: the offered list now holds these tools

    # --- calls ---------------------------------------------------------------------------

    def _pick_order(self) -> list[Replica]:
        ready = [r for r in self.replicas if r.ready]
        if len(ready) <= 1:
            return ready
        strategy = self.config.load_balance
        if strategy == "random":
            random.shuffle(ready)
            return ready
        if strategy == "health-based":
            return sorted(ready, key=lambda r: r.health_score())
        start = next(self._rr) % len(ready)
        return ready[start:] + ready[:start]

    async def call(
        self, tool: str, arguments: dict, timeout: float, outcome: CallOutcome
    ) -> types.CallToolResult:
        deadline = time.monotonic() + timeout
        tried: set[int] = set()
        last_down = ""
        while True:
            order = [r for r in self._pick_order() if r.index not in tried]
            if not order:
                reason = last_down or self._down_reason()
                raise ToolUnavailable(f"server {self.name!r} has no ready replica ({reason})")
            replica = order[0]
            tried.add(replica.index)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ToolTimeout(f"no answer from {self.name!r} within {timeout:g} s")
            try:
                result = await replica.call(tool, arguments, remaining)
            except ReplicaDown as exc:
                last_down = str(exc)
                outcome.failovers += 1
                logger.info(
                    "upstream %s replica %d down (%s); failing over", self.name, replica.index, exc
                )
                continue
            except TimeoutError as exc:
                outcome.replica = replica.index
                raise ToolTimeout(f"no answer from {self.name!r} within {timeout:g} s") from exc
            outcome.replica = replica.index
            return result

    def _down_reason(self) -> str:
        errors = [r.last_error for r in self.replicas if r.last_error]
        return errors[-1] if errors else f"state {self.state()}"
