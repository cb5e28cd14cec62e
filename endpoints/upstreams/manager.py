"""UpstreamManager: the pool's ToolRegistry over every upstream MCP server.

Exposed names are `naming.exposed_name(server, tool)`. The offered list is
the builtin tools, then the enabled tools of ready servers in (server id,
upstream name) order. When two tools map to one exposed name (or one equals a
builtin name) the first in that order is offered and the others are reported
by `collisions()` and a warning, never silently shadowed. Names are claimed
by every known tool of an enabled server, ready or not, so a server going
down does not hand its names to another.

First listing: a hub (or an upstream server) that just started has not listed
the upstream tools yet, and some peers list tools once, after `initialize`,
ignoring `notifications/tools/list_changed`. With `first_tools_wait` > 0,
`list_tools()` therefore waits until the servers are configured (the first
`apply()`) and every server has finished its first listing or failed its first
try, each for at most `first_tools_wait` seconds after its start (the
manager's creation for the configuration), and logs whom it waited for.

Custom tools (custom/, set by `set_custom_tools()`) are offered after the
servers' tools under their own names, which hold no `__` and so never meet a
builtin or `<server>__<tool>` name. Their calls are checked against their
inputSchema (a mismatch is -32602), run by `CustomToolRunner`, and logged as
`CustomCallRecord`s; an `mcp` alias calls its server's tool directly, so it
works even when the operator hides the original.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from mcp import types
from mcp.shared.exceptions import MCPError

from ..pool.registry import (
    ToolInvalidArguments,
    ToolNotFound,
    ToolRegistry,
    ToolTimeout,
    ToolUnavailable,
    calling_endpoint,
)
from .config import ServerConfig, ToolKey, ToolSettings
from .custom.config import CustomCallRecord, CustomToolConfig
from .custom.runner import CustomToolRunner
from .naming import exposed_name, server_name_problem, split_exposed
from .records import CallRecord, ServerStatus, UpstreamTool
from .replica import describe
from .server import CallOutcome, UpstreamServer

logger = logging.getLogger("endpoints.upstreams")

DEBOUNCE = 0.1  # seconds: one tools-changed notification per burst
DEFAULT_SETTINGS = ToolSettings()


class UpstreamError(Exception):
    """The upstream answered the call with a JSON-RPC error (→ -32000 for the peer)."""


@dataclass(frozen=True)
class ExposedTool:
    name: str  # what endpoints see
    server_id: int
    server_name: str
    upstream: UpstreamTool
    enabled: bool
    collision: str | None = None  # why it is not offered: the name's owner
    settings: ToolSettings = DEFAULT_SETTINGS

    @property
    def offered_name(self) -> str | None:
        return self.name if self.enabled and self.collision is None else None


@dataclass(frozen=True)
class Collision:
    exposed_name: str
    winner: str  # "hub (builtin)" or "<server>:<upstream tool>"
    losers: tuple[tuple[int, str], ...] = field(default=())  # (server id, upstream tool name)


class UpstreamManager:
    def __init__(
        self,
        *,
        builtin: ToolRegistry | None = None,
        on_tools_changed: Callable[[], Awaitable[None]] | None = None,
        on_catalog: Callable[[int, list[UpstreamTool]], Awaitable[None]] | None = None,
        on_status: Callable[[ServerStatus], Awaitable[None]] | None = None,
        on_call: Callable[[CallRecord], Awaitable[None]] | None = None,
        replica_options: dict | None = None,
        first_tools_wait: float = 0.0,
    ) -> None:
        self._builtin = builtin
        self._first_tools_wait = first_tools_wait
        self._created = time.monotonic()
        self._configured = asyncio.Event()  # the first apply() is done
        self._on_tools_changed = on_tools_changed
        self._on_catalog = on_catalog
        self._on_status = on_status
        self._on_call = on_call
        # Test/bench knobs for Replica (backoff_start, backoff_max, ping_interval).
        self._replica_options = replica_options or {}
        self._servers: dict[int, UpstreamServer] = {}
        self._settings: dict[ToolKey, ToolSettings] = {}
        self._builtin_tools: list[types.Tool] | None = None
        self._exposed: list[ExposedTool] = []
        self._collisions: list[Collision] = []
        self._routes: dict[str, ExposedTool] = {}
        self._offered: list[types.Tool] = []
        self._custom: tuple[CustomToolConfig, ...] = ()
        self._custom_routes: dict[str, CustomToolConfig] = {}
        self._runner = CustomToolRunner(
            call_tool=self.call_tool, call_server_tool=self._call_server_tool
        )
        self._notified_signature: tuple = ()
        self._notify_task: asyncio.Task | None = None
        self._background: set[asyncio.Task] = set()
        self._lock = asyncio.Lock()
        self._closed = False

    # --- configuration -------------------------------------------------------------------

    async def apply(self, servers: Iterable[ServerConfig]) -> None:
        """Start new servers, stop removed/disabled ones, restart only changed ones."""
        async with self._lock:
            await self._load_builtin()
            wanted: dict[int, ServerConfig] = {}
            names: set[str] = set()
            for config in sorted(servers, key=lambda c: c.id):
                problem = server_name_problem(config.name)
                if problem is None and config.name in names:
                    problem = f"another server is already named {config.name!r}"
                if problem is None and not config.replicas:
                    problem = "the server has no replica configured"
                if problem is not None:
                    logger.warning("upstream server %d not started: %s", config.id, problem)
                    await self._report(
                        ServerStatus(config.id, config.name, "failed", (), 0, problem)
                    )
                    continue
                if not config.enabled:
                    continue
                names.add(config.name)
                wanted[config.id] = config
            stopping = [
                server
                for server_id, server in self._servers.items()
                if wanted.get(server_id) != server.config
            ]
            for server in stopping:
                del self._servers[server.id]
            await asyncio.gather(*(server.close() for server in stopping))
            for server in stopping:
                if server.id not in wanted:
                    await self._report(ServerStatus(server.id, server.name, "stopped", ()))
            for config in wanted.values():
                if config.id not in self._servers:
                    server = UpstreamServer(
                        config,
                        on_tools=self._server_tools,
                        on_state=self._server_state,
                        replica_options=self._replica_options,
                    )
                    self._servers[config.id] = server
                    server.start()
                    await self._report(server.status())
            self._rebuild()
            self._configured.set()

    async def set_tool_settings(self, settings: Mapping[ToolKey, ToolSettings]) -> None:
        self._settings = dict(settings)
        self._rebuild()

    async def set_custom_tools(self, tools: Iterable[CustomToolConfig]) -> None:
        """The custom tools to offer; a no-op when they did not change."""
        tools = tuple(sorted(tools, key=lambda t: t.id))
        if tools == self._custom:
            return
        self._custom = tools
        self._rebuild()

    def custom_tools(self) -> list[CustomToolConfig]:
        return list(self._custom)

    async def refresh(self, server_id: int | None = None) -> None:
        for server in list(self._servers.values()):
            if server_id is None or server.id == server_id:
                await server.refresh()

    async def close(self) -> None:
        self._closed = True
        if self._notify_task is not None:
            self._notify_task.cancel()
        servers = list(self._servers.values())
        self._servers.clear()
        await asyncio.gather(*(server.close() for server in servers))
        for task in list(self._background):
            task.cancel()
        self._rebuild(notify=False)

    # --- reading -------------------------------------------------------------------------

    async def list_tools(self) -> list[types.Tool]:
        await self._load_builtin()
        await self._wait_for_first_listings()
        return list(self._builtin_tools or []) + list(self._offered)

    def exposed(self) -> list[ExposedTool]:
        return list(self._exposed)

    def collisions(self) -> list[Collision]:
        return list(self._collisions)

    def server_statuses(self) -> list[ServerStatus]:
        return [server.status() for server in sorted(self._servers.values(), key=lambda s: s.id)]

    def server(self, server_id: int) -> UpstreamServer | None:
        return self._servers.get(server_id)

    # --- the first listing ---------------------------------------------------------------

    async def _wait_for_first_listings(self) -> None:
        wait = self._first_tools_wait
        started = time.monotonic()
        late: list[str] = []
        if not self._configured.is_set() and self._created + wait > started:
            if not await _wait_until(self._configured, self._created + wait):
                late.append("(the server configuration)")
        elif not self._configured.is_set():
            return  # its wait is over: answer with what there is, and say nothing again
        pending = [
            server
            for server in self._servers.values()
            if not server.settled.is_set()
            and server.started_at is not None
            and server.started_at + wait > time.monotonic()
        ]
        if not pending and not late and time.monotonic() - started < 0.05:
            return
        settled = await asyncio.gather(
            *(_wait_until(server.settled, server.started_at + wait) for server in pending)
        )
        late += [server.name for server, done in zip(pending, settled, strict=True) if not done]
        timed_out = f"; not done within HUB_FIRST_TOOLS_WAIT={wait:g} s: " + ", ".join(late)
        logger.info(
            "tools/list waited %.1f s for the first listing of upstream servers: %s%s",
            time.monotonic() - started,
            ", ".join(server.name for server in pending) or "none",
            timed_out if late else "",
        )

    # --- calls ---------------------------------------------------------------------------

    async def call_tool(self, name: str, arguments: dict) -> types.CallToolResult:
        custom = self._custom_routes.get(name)
        if custom is not None:
            return await self._call_custom(custom, arguments)
        started_at = datetime.now(UTC)
        started = time.perf_counter()
        route = self._routes.get(name)
        outcome = CallOutcome()
        record = dict(
            tool=name,
            server_id=route.server_id if route else None,
            upstream_tool=route.upstream.name if route else None,
            endpoint_id=calling_endpoint.get(),
            started_at=started_at,
            arguments=arguments if isinstance(arguments, dict) else {},
        )
        try:
            result = await self._route_call(name, route, arguments, outcome)
        except BaseException as exc:
            kind = _outcome_of(exc)
            error = _call_error(exc) if kind != "not_found" else f"unknown tool {name!r}"
            self._record(record, started, kind, outcome, error=error)
            raise
        self._record_result(record, started, outcome, result)
        return result

    async def _route_call(
        self, name: str, route: ExposedTool | None, arguments: dict, outcome: CallOutcome
    ) -> types.CallToolResult:
        if route is None:
            if self._builtin is not None and name in self._builtin_names():
                return await self._builtin.call_tool(name, arguments)
            split = split_exposed(name)
            if split is None or not any(s.name == split[0] for s in self._servers.values()):
                raise ToolNotFound(f"unknown tool {name!r}")
            raise ToolNotFound(f"unknown or disabled tool {name!r}")
        server = self._servers.get(route.server_id)
        if server is None:
            raise ToolNotFound(f"unknown tool {name!r}")
        timeout = route.settings.timeout or server.config.call_timeout
        try:
            return await server.call(route.upstream.name, arguments, timeout, outcome)
        except MCPError as exc:
            if exc.error.code == -32601:
                raise ToolNotFound(f"the upstream no longer has {route.upstream.name!r}") from exc
            raise UpstreamError(f"upstream {server.name!r} answered: {describe(exc)}") from exc

    async def _call_custom(self, tool: CustomToolConfig, arguments: dict) -> types.CallToolResult:
        record = dict(
            tool=tool.name,
            server_id=None,
            upstream_tool=None,
            endpoint_id=calling_endpoint.get(),
            started_at=datetime.now(UTC),
            arguments=arguments if isinstance(arguments, dict) else {},
            custom_tool_id=tool.id,
        )
        started = time.perf_counter()
        try:
            result = await self._runner.call(tool, arguments)
        except BaseException as exc:
            self._record(record, started, _outcome_of(exc), CallOutcome(), error=_call_error(exc))
            raise
        self._record_result(record, started, CallOutcome(), result)
        return result

    async def _call_server_tool(
        self, server_name: str, tool: str, arguments: dict, timeout: float
    ) -> types.CallToolResult:
        """An `mcp` alias's call: the server's tool, whether or not it is offered itself."""
        server = next((s for s in self._servers.values() if s.name == server_name), None)
        if server is None:
            raise ToolUnavailable(f"the MCP server {server_name!r} is not running")
        settings = self._settings.get((server.id, tool), DEFAULT_SETTINGS)
        try:
            return await server.call(tool, arguments, settings.timeout or timeout, CallOutcome())
        except MCPError as exc:
            if exc.error.code == -32601:
                raise ToolUnavailable(f"{server_name!r} has no tool {tool!r}") from exc
            raise UpstreamError(f"upstream {server.name!r} answered: {describe(exc)}") from exc

    def _record_result(
        self, record: dict, started: float, outcome: CallOutcome, result: types.CallToolResult
    ) -> None:
        """Log an answered call: ok, or tool_error for the tool's own `isError`."""
        text = "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))
        kind = "tool_error" if result.is_error else "ok"
        self._record(record, started, kind, outcome, result_text=text)

    def _record(self, record: dict, started: float, kind: str, outcome: CallOutcome, **extra):
        if self._on_call is None:
            return
        call = (CustomCallRecord if "custom_tool_id" in record else CallRecord)(
            **record,
            duration_ms=(time.perf_counter() - started) * 1000,
            outcome=kind,  # type: ignore[arg-type]
            replica=outcome.replica,
            failovers=outcome.failovers,
            **extra,
        )
        self._spawn(self._on_call(call), "on_call")

    # --- bookkeeping ---------------------------------------------------------------------

    async def _load_builtin(self) -> None:
        if self._builtin_tools is None:
            self._builtin_tools = await self._builtin.list_tools() if self._builtin else []

    def _builtin_names(self) -> set[str]:
        return {tool.name for tool in self._builtin_tools or []}

    async def _server_tools(self, server: UpstreamServer) -> None:
        if self._on_catalog is not None:
            try:
                await self._on_catalog(server.id, list(server.tools))
            except Exception:  # noqa: BLE001 - a callback must never break the runtime
                logger.exception("on_catalog failed")
        self._rebuild()
        # A replica is ready before its first listing arrives: the status reported with
        # that state change counted no tools, so report the listing's count too.
        if not self._closed:
            await self._report(server.status())

    def _server_state(self, server: UpstreamServer) -> None:
        if self._closed:
            return
        self._spawn(self._report(server.status()), "on_status")
        self._rebuild()

    async def _report(self, status: ServerStatus) -> None:
        if self._on_status is None:
            return
        try:
            await self._on_status(status)
        except Exception:  # noqa: BLE001
            logger.exception("on_status failed")

    def _rebuild(self, *, notify: bool = True) -> None:
        """Recompute exposed names, collisions, routes and the offered list."""
        builtin = self._builtin_names()
        owners: dict[str, str] = {name: "hub (builtin)" for name in builtin}
        losers: dict[str, list[tuple[int, str]]] = {}
        exposed: list[ExposedTool] = []
        routes: dict[str, ExposedTool] = {}
        offered: list[types.Tool] = []
        for server in sorted(self._servers.values(), key=lambda s: s.id):
            for tool in sorted(server.tools, key=lambda t: t.name):
                settings = self._settings.get((server.id, tool.name), DEFAULT_SETTINGS)
                name = exposed_name(server.name, tool.name)
                collision = None
                if settings.enabled:
                    if name in owners:
                        collision = owners[name]
                        losers.setdefault(name, []).append((server.id, tool.name))
                    else:
                        owners[name] = f"{server.name}:{tool.name}"
                entry = ExposedTool(
                    name, server.id, server.name, tool, settings.enabled, collision, settings
                )
                exposed.append(entry)
                if entry.offered_name is None:
                    continue
                routes[name] = entry
                if server.ready:
                    offered.append(
                        types.Tool(
                            name=name,
                            description=settings.description
                            if settings.description is not None
                            else tool.description,
                            input_schema=tool.input_schema,
                        )
                    )
        custom_routes: dict[str, CustomToolConfig] = {}
        for custom in self._custom:
            if not custom.enabled:
                continue
            if custom.name in owners:  # not reachable: custom names hold no `__`
                logger.warning(
                    "custom tool %s not offered: %s has its name", custom.name, owners[custom.name]
                )
                continue
            owners[custom.name] = f"custom:{custom.name}"
            custom_routes[custom.name] = custom
            offered.append(
                types.Tool(
                    name=custom.name,
                    description=custom.description,
                    input_schema=custom.input_schema or {"type": "object", "properties": {}},
                )
            )
        self._custom_routes = custom_routes
        collisions = [Collision(name, owners[name], tuple(lost)) for name, lost in losers.items()]
        old = {(c.exposed_name, c.losers) for c in self._collisions}
        for collision in collisions:
            if (collision.exposed_name, collision.losers) not in old:
                logger.warning(
                    "tool name collision on %s: %s is offered; not offered: %s",
                    collision.exposed_name,
                    collision.winner,
                    ", ".join(f"server {sid}:{tool}" for sid, tool in collision.losers),
                )
        self._exposed, self._routes, self._offered = exposed, routes, offered
        self._collisions = collisions
        if notify and not self._closed:
            self._schedule_notify()

    def _signature(self) -> tuple:
        return tuple(
            (t.name, t.description, json.dumps(t.input_schema, sort_keys=True, default=str))
            for t in self._offered
        )

    def _schedule_notify(self) -> None:
        if self._on_tools_changed is None or self._signature() == self._notified_signature:
            return
        if self._notify_task is None or self._notify_task.done():
            self._notify_task = asyncio.get_running_loop().create_task(
                self._notify_soon(), name="upstream-tools-changed"
            )

    async def _notify_soon(self) -> None:
        await asyncio.sleep(DEBOUNCE)
        signature = self._signature()
        if signature == self._notified_signature or self._on_tools_changed is None:
            return
        self._notified_signature = signature
        try:
            await self._on_tools_changed()
        except Exception:  # noqa: BLE001
            logger.exception("on_tools_changed failed")

    def _spawn(self, coro: Awaitable, what: str) -> None:
        async def guarded() -> None:
            try:
                await coro
            except Exception:  # noqa: BLE001
                logger.exception("%s callback failed", what)

        task = asyncio.get_running_loop().create_task(guarded(), name=f"upstream-{what}")
        self._background.add(task)
        task.add_done_callback(self._background.discard)


async def _wait_until(event: asyncio.Event, deadline: float) -> bool:
    """Whether `event` is set by `deadline` (time.monotonic())."""
    if event.is_set():
        return True
    try:
        async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
            await event.wait()
    except TimeoutError:
        return False
    return True


def _call_error(exc: BaseException) -> str:
    """The call log's text for a failed call."""
    if isinstance(exc, asyncio.CancelledError):  # the endpoint's peer went away mid-call
        return "cancelled: the endpoint's connection closed before the answer"
    return describe(exc)


def _outcome_of(exc: BaseException) -> str:
    if isinstance(exc, ToolNotFound):
        return "not_found"
    if isinstance(exc, ToolInvalidArguments):
        return "error"
    if isinstance(exc, ToolTimeout | TimeoutError):
        return "timeout"
    if isinstance(exc, ToolUnavailable):
        return "unavailable"
    return "error"


__all__ = [
    "Collision",
    "ExposedTool",
    "UpstreamError",
    "UpstreamManager",
]
