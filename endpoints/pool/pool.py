"""The endpoint pool: one connection task per endpoint, run-time changes, balanced requests.

Plain asyncio; Django drives it from the outside (endpoints/worker.py).
Everything must be called from the loop the pool runs on.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import metadata

from .balancing import Balancer
from .config import EndpointConfig, PeerLimits
from .connection import ConnectionLost, EndpointConnection, PingOutcome, StatusCallback
from .protocol import McpServerHandler
from .registry import ToolRegistry
from .status import EndpointStatus

logger = logging.getLogger("endpoints.pool")

# Why pool.request() did not try an endpoint (an `attempts` entry): a relay drops it.
RELAY_SKIPPED = (
    "skipped: a self-hosted relay does not route requests the hub originates "
    "(its liveness is checked with WebSocket pings)"
)

__all__ = ["EndpointPool", "NoHealthyEndpoint", "RequestResult", "StatusCallback"]


def _version() -> str:
    try:
        return metadata.version("xiaozhi-hub")
    except metadata.PackageNotFoundError:
        return "0"


@dataclass
class RequestResult:
    endpoint_id: int  # the endpoint that answered
    result: dict  # its JSON-RPC `result` ({} when it answered with an error)
    rtt_ms: float
    # (endpoint_id, error) of the tries that failed before the one that answered
    attempts: list[tuple[int, str]] = field(default_factory=list)
    error: dict | None = None  # the JSON-RPC `error` object when the peer answered with one
    # per failover: ms from the failure being seen to the next try's frame being written
    switch_ms: list[float] = field(default_factory=list)


class NoHealthyEndpoint(Exception):
    """No ready endpoint, or every one of them failed; `attempts` says what each did."""

    def __init__(self, message: str, attempts: list[tuple[int, str]] | None = None) -> None:
        super().__init__(message)
        self.attempts = attempts or []


class EndpointPool:
    def __init__(
        self,
        *,
        registry: ToolRegistry,
        on_status: StatusCallback | None = None,
        load_balance_strategy: str = "round-robin",
        server_name: str = "xiaozhi-hub",
        max_frame_bytes: int = 1 << 20,
        tool_call_timeout: float = 120.0,
        rng: random.Random | None = None,
        peer_limits: PeerLimits | None = None,
    ) -> None:
        version = _version()
        self._handler = McpServerHandler(
            registry,
            server_name=server_name,
            server_version=version,
            tool_call_timeout=tool_call_timeout,
        )
        self._on_status = on_status
        self._max_frame_bytes = max_frame_bytes
        self._peer_limits = peer_limits or PeerLimits()
        self._user_agent = f"{server_name}/{version}"
        # websockets reads the proxy environment on every dial (~0.7 ms each);
        # when no proxy is configured, say so once.
        self._proxy = True if urllib.request.getproxies() else None
        self._rng = rng
        self._balancer = Balancer(load_balance_strategy, rng)
        self._connections: dict[int, EndpointConnection] = {}
        self._lock = asyncio.Lock()

    # -- configuration -------------------------------------------------------

    async def apply(self, configs: Iterable[EndpointConfig]) -> None:
        """Make the pool run exactly `configs`, touching only what changed."""
        desired = {config.id: config for config in configs}
        async with self._lock:
            removed = [i for i in self._connections if i not in desired]
            await asyncio.gather(*(self._drop(i) for i in removed))
            await asyncio.gather(*(self._upsert(config) for config in desired.values()))

    async def upsert(self, config: EndpointConfig) -> None:
        async with self._lock:
            await self._upsert(config)

    async def remove(self, endpoint_id: int) -> None:
        async with self._lock:
            await self._drop(endpoint_id)

    async def close(self) -> None:
        async with self._lock:
            await asyncio.gather(*(self._drop(i) for i in list(self._connections)))

    async def _upsert(self, config: EndpointConfig) -> None:
        current = self._connections.get(config.id)
        if current is not None:
            if current.config == config:
                return
            if _same_connection(current.config, config):
                await current.rename(config)  # a new name needs no new connection
                return
            await current.stop("endpoint configuration changed")
        connection = EndpointConnection(
            config,
            handler=self._handler,
            max_frame_bytes=self._max_frame_bytes,
            on_status=self._on_status,
            user_agent=self._user_agent,
            proxy=self._proxy,
            rng=self._rng,
            limits=self._peer_limits,
        )
        self._connections[config.id] = connection
        await connection.start()

    async def _drop(self, endpoint_id: int) -> None:
        connection = self._connections.pop(endpoint_id, None)
        if connection is not None:
            await connection.stop()

    # -- operator actions --------------------------------------------------

    async def reconnect(self, endpoint_id: int) -> None:
        """Dial now (also resumes a `failed` endpoint). Unknown or disabled ids: no-op."""
        connection = self._connections.get(endpoint_id)
        if connection is None:
            logger.info("reconnect: endpoint %s is not in this pool", endpoint_id)
            return
        await connection.reconnect()

    async def check_health(self, endpoint_id: int | None = None) -> dict[int, float | None]:
        """Ping now; endpoint id → RTT in ms, or None (failed, or not connected).

        Only ids this pool holds are in the answer (an unknown id gives {}).
        """
        results = await self.check(endpoint_id)
        return {pk: outcome.rtt_ms for pk, outcome in results.items()}

    async def check(self, endpoint_id: int | None = None) -> dict[int, PingOutcome]:
        """Ping now, as check_health, with why each failed ping failed."""
        if endpoint_id is None:
            targets = list(self._connections.values())
        else:
            connection = self._connections.get(endpoint_id)
            targets = [connection] if connection is not None else []
        results = await asyncio.gather(*(c.check() for c in targets))
        return {c.endpoint_id: outcome for c, outcome in zip(targets, results, strict=True)}

    # -- hub-originated requests -------------------------------------------

    def set_load_balance_strategy(self, name: str) -> None:
        self._balancer.strategy = Balancer.check(name)

    @property
    def load_balance_strategy(self) -> str:
        return self._balancer.strategy

    async def request(
        self, method: str, params: dict | None = None, *, timeout: float | None = None
    ) -> RequestResult:
        """Send to one ready endpoint chosen by the strategy; fail over on loss or timeout.

        `timeout` applies to each try (default: that endpoint's connection
        timeout). A JSON-RPC error answer is an answer: it is returned in
        `error`, not failed over, since every endpoint would say the same.
        Connected relays are not tried (they drop such requests unanswered):
        each is listed in `attempts` with RELAY_SKIPPED.
        """
        connections = list(self._connections.values())
        skipped = [
            (c.endpoint_id, RELAY_SKIPPED)
            for c in connections
            if not c.routes_hub_messages and c.status.connected
        ]
        ready = [c for c in connections if c.ready and c.routes_hub_messages]
        if not ready:
            relays = f"; {len(skipped)} connected self-hosted relay(s) skipped" if skipped else ""
            raise NoHealthyEndpoint(
                f"no connected endpoint to send {method!r} to "
                f"({len(self._connections)} configured{relays})",
                skipped,
            )
        attempts: list[tuple[int, str]] = list(skipped)
        switch_ms: list[float] = []
        failed_at: float | None = None

        def sent() -> None:
            if failed_at is not None:
                switch_ms.append((time.perf_counter() - failed_at) * 1000.0)

        for connection in self._balancer.order(ready):
            if not connection.ready:  # lost while an earlier try was waiting
                attempts.append((connection.endpoint_id, "not connected"))
                continue
            try:
                reply, rtt_ms = await connection.request(
                    method, params, timeout=timeout, on_sent=sent
                )
            except ConnectionLost as exc:
                attempts.append((connection.endpoint_id, f"connection lost: {exc}"))
                failed_at = exc.seen_at
            except TimeoutError:
                attempts.append((connection.endpoint_id, "timed out"))
                failed_at = time.perf_counter()
            else:
                return RequestResult(
                    endpoint_id=connection.endpoint_id,
                    result=reply.get("result") if isinstance(reply.get("result"), dict) else {},
                    rtt_ms=rtt_ms,
                    attempts=attempts,
                    error=reply.get("error"),
                    switch_ms=switch_ms,
                )
        raise NoHealthyEndpoint(
            f"every ready endpoint failed {method!r}: "
            + "; ".join(f"{i}: {error}" for i, error in attempts),
            attempts,
        )

    async def serve(self, request: dict) -> dict:
        """Answer a JSON-RPC request exactly as an endpoint's peer would be answered
        (test calls from the admin, REST and commands)."""
        return await self._handler.respond(request)

    async def notify_tools_changed(self, endpoint_ids: Iterable[int] | None = None) -> None:
        """`notifications/tools/list_changed` to every initialized peer (or only those of
        `endpoint_ids`: per-endpoint tools); a reconnect for the endpoints configured to
        want one instead. Relays get no notification (they drop it): their robots see
        the new tools at their next `initialize`."""
        connections = list(self._connections.values())
        if endpoint_ids is not None:
            wanted = set(endpoint_ids)
            connections = [c for c in connections if c.endpoint_id in wanted]
        await asyncio.gather(
            *(
                c.reconnect() if c.config.reconnect_on_tools_change and c.status.initialized
                else c.notify("notifications/tools/list_changed")
                for c in connections
            )
        )  # fmt: skip

    # -- reads -----------------------------------------------------------------

    def statuses(self) -> list[EndpointStatus]:
        return [c.status.snapshot() for c in self._connections.values()]

    def status(self, endpoint_id: int) -> EndpointStatus | None:
        connection = self._connections.get(endpoint_id)
        return connection.status.snapshot() if connection is not None else None

    def endpoint_ids(self) -> set[int]:
        return set(self._connections)

    def summary(self) -> dict:
        """Counts for `hub__status` and the status API's `manager` block."""
        statuses = [c.status for c in self._connections.values()]
        return {
            "totalConnections": len(statuses),
            "connectedConnections": sum(1 for s in statuses if s.connected),
            "healthyConnections": sum(1 for s in statuses if s.state == "connected"),
            "loadBalanceStrategy": self._balancer.strategy,
        }


def _same_connection(old: EndpointConfig, new: EndpointConfig) -> bool:
    """True when only the name or tool-change handling differs (the connection can stay)."""
    return (old.url, old.enabled, old.health_check_enabled, old.options, old.profile) == (
        new.url,
        new.enabled,
        new.health_check_enabled,
        new.options,
        new.profile,
    )
