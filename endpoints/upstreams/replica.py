"""One supervised replica: connect, initialize, list, serve calls; restart when it dies.

The supervisor task owns the transport (the SDK's context managers must be
entered and left in one task); calls from any task use the live session
concurrently. A replica that dies (child exit, HTTP stream gone, failed ping)
is marked `restarting` and retried with exponential backoff and jitter
(0.5 s doubling to 30 s, reset after a minute of stable connection). One that
cannot start at all (command not found, HTTP 401/404) is `failed` with the
masked reason and keeps retrying at the same backoff.

A stdio replica's `tools/call` takes the lean path (lines.py, passthrough.py):
one raw JSON-RPC line out, the answer picked by id, the result passed on
without a model round trip. The SDK session still initializes, lists and
receives notifications; other transports call through it too. A tool whose
output schema does not compile is called through the SDK, which reports it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from mcp import types
from mcp.shared.exceptions import MCPError
from mcp_types.jsonrpc import CONNECTION_CLOSED

from xiaozhi_hub.masking import mask_text

from .config import ReplicaConfig
from .lines import LineTooLong, LinkLost
from .passthrough import MalformedAnswer, OutputSchemas, call_result
from .records import ReplicaStatus, ServerState, UpstreamTool
from .transports import Link, ReplicaStartError, open_session, replica_label

logger = logging.getLogger("endpoints.upstreams")

BACKOFF_START = 0.5
BACKOFF_MAX = 30.0
STABLE_AFTER = 60.0  # seconds connected before the backoff resets
CONNECT_TIMEOUT = 20.0  # initialize + first listing
PING_INTERVAL = 15.0  # liveness of idle HTTP replicas (stdio exits are seen at once)
PING_TIMEOUT = 5.0
WINDOW = 20  # recent calls kept for health-based balancing
MAX_PAGES = 1000  # a server that keeps handing out cursors is broken


class ReplicaDown(Exception):
    """The replica's transport failed (not the tool): the caller may fail over."""


class Replica:
    def __init__(
        self,
        index: int,
        transport: str,
        config: ReplicaConfig,
        *,
        on_state: Callable[[Replica], None],
        on_tools: Callable[[Replica, list[UpstreamTool]], Awaitable[None]],
        backoff_start: float = BACKOFF_START,
        backoff_max: float = BACKOFF_MAX,
        ping_interval: float = PING_INTERVAL,
        lean: bool = True,
    ) -> None:
        self.index = index
        self.transport = transport
        self.config = config
        self.label = replica_label(transport, config)
        self.state: ServerState = "starting"
        self.last_error = ""
        self.restarts = 0
        self.pid: int | None = None
        self.inflight = 0
        self._on_state = on_state
        self._on_tools = on_tools
        self._backoff_start = backoff_start
        self._backoff_max = backoff_max
        self._ping_interval = ping_interval
        self._lean = lean  # False: every call through the SDK session (the bench's baseline)
        self._link: Link | None = None
        self._output_schemas = OutputSchemas()  # of the last listing, for the lean calls
        self._recent: deque[tuple[bool, float]] = deque(maxlen=WINDOW)
        self._stop = asyncio.Event()
        self._relist = asyncio.Event()
        self._task: asyncio.Task | None = None

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(
            self._supervise(), name=f"upstream-replica-{self.label[:40]}"
        )

    async def close(self) -> None:
        self._stop.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), 10)
        except (TimeoutError, asyncio.CancelledError):
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        self._set_state("stopped")

    @property
    def ready(self) -> bool:
        return self.state == "ready" and self._link is not None and not self._link.lost.is_set()

    def request_relist(self) -> None:
        self._relist.set()

    def mark_down(self, reason: str) -> None:
        """The transport failed under a call: drop the link so the supervisor reconnects."""
        link = self._link
        if link is not None and not link.lost.is_set():
            self.last_error = mask_text(reason)[:500]
            link.lost.set()

    async def _supervise(self) -> None:
        failures = 0
        while not self._stop.is_set():
            connected_at: float | None = None
            try:
                # One budget for connect, initialize and the first listing: a server
                # that never answers `initialize` fails and is restarted, not left
                # `starting` forever. Once listed, the link is served without a deadline.
                async with asyncio.timeout(CONNECT_TIMEOUT) as deadline:
                    async with open_session(
                        self.transport,
                        self.config,
                        message_handler=self._on_message,
                        label=self.label,
                    ) as link:
                        self.pid = link.pid
                        tools = await self._list(link)
                        deadline.reschedule(None)
                        self._link = link
                        connected_at = time.monotonic()
                        self.last_error = ""
                        self._set_state("ready")
                        await self._on_tools(self, tools)
                        await self._serve(link)
                        if not self._stop.is_set():
                            self.last_error = (
                                self.last_error or "the upstream closed the connection"
                            )
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # noqa: BLE001 - anyio groups wrap everything
                if self._stop.is_set():
                    break
                self.last_error = describe(exc)
                permanent = _is_permanent(exc)
                logger.warning("upstream replica %s: %s", self.label, self.last_error)
                self._link = None
                self._set_state("failed" if permanent else "restarting")
            finally:
                self._link = None
                self.pid = None
            if self._stop.is_set():
                break
            if self.state == "ready":
                self._set_state("restarting")
            stable = connected_at is not None and time.monotonic() - connected_at >= STABLE_AFTER
            failures = 1 if stable else failures + 1
            self.restarts += 1
            delay = min(self._backoff_max, self._backoff_start * 2 ** min(failures - 1, 30))
            delay *= random.uniform(0.8, 1.2)
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
            # cancellation that meets the event, and this loop would never end.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._stop.wait()

    async def _serve(self, link: Link) -> None:
        """Wait until stopped or the link is lost; re-list on request; ping idle HTTP links."""
        while not self._stop.is_set() and not link.lost.is_set():
            waits = [
                asyncio.ensure_future(self._stop.wait()),
                asyncio.ensure_future(link.lost.wait()),
                asyncio.ensure_future(self._relist.wait()),
            ]
            timeout = self._ping_interval if self.transport != "stdio" else None
            done, pending = await asyncio.wait(
                waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            for waiter in pending:
                waiter.cancel()
            if self._stop.is_set() or link.lost.is_set():
                return
            if self._relist.is_set():
                self._relist.clear()
                try:
                    async with asyncio.timeout(CONNECT_TIMEOUT):
                        tools = await self._list(link)
                except Exception as exc:  # noqa: BLE001
                    self.last_error = describe(exc)
                    logger.warning("upstream replica %s: re-listing failed: %s", self.label, exc)
                    return
                await self._on_tools(self, tools)
            elif not done:
                try:
                    async with asyncio.timeout(PING_TIMEOUT):
                        await link.session.send_ping()
                except Exception as exc:  # noqa: BLE001
                    self.last_error = f"ping failed: {describe(exc)}"
                    return

    async def _list(self, link: Link) -> list[UpstreamTool]:
        tools: list[UpstreamTool] = []
        schemas: dict[str, dict] = {}
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
            page = await link.session.list_tools(params=params)
            for tool in page.tools:
                if tool.output_schema is not None:
                    schemas[tool.name] = tool.output_schema
                tools.append(
                    UpstreamTool(
                        name=tool.name,
                        description=tool.description or "",
                        input_schema=dict(tool.input_schema or {"type": "object"}),
                    )
                )
            cursor = page.next_cursor
            if not cursor:
                self._output_schemas = OutputSchemas(schemas)
                return tools
        raise MalformedAnswer(f"tools/list kept paginating past {MAX_PAGES} pages")

    async def _on_message(self, message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            self._relist.set()
        elif isinstance(message, Exception):
            logger.warning("upstream replica %s sent garbage: %s", self.label, describe(message))

    # --- calls -------------------------------------------------------------------------

    async def call(self, name: str, arguments: dict, timeout: float) -> types.CallToolResult:
        """Call `name` here. ReplicaDown: fail over; TimeoutError: the answer is a timeout."""
        link = self._link
        if link is None or link.lost.is_set():
            raise ReplicaDown(self.last_error or "not connected")
        self.inflight += 1
        started = time.perf_counter()
        ok = False
        try:
            async with asyncio.timeout(timeout):
                result = await self._call_on(link, name, arguments)
            ok = True
            return result
        finally:
            self.inflight -= 1
            self._recent.append((ok, (time.perf_counter() - started) * 1000))

    async def _call_on(self, link: Link, name: str, arguments: dict) -> types.CallToolResult:
        if self._lean and link.lines is not None and name not in self._output_schemas.invalid:
            return await self._lean_call(link, name, arguments)
        try:
            return await link.session.call_tool(name, arguments)
        except MCPError as exc:
            if exc.error.code == CONNECTION_CLOSED or link.lost.is_set():
                self.mark_down(f"connection lost during a call: {exc}")
                raise ReplicaDown(describe(exc)) from exc
            raise
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, OSError) as exc:
            self.mark_down(f"transport failed during a call: {describe(exc)}")
            raise ReplicaDown(describe(exc)) from exc
        except Exception as exc:
            if link.lost.is_set():
                raise ReplicaDown(describe(exc)) from exc
            if _looks_like_validation(exc):
                raise MalformedAnswer(
                    f"malformed answer from upstream ({self.label}): {describe(exc)}"
                ) from exc
            raise

    async def _lean_call(self, link: Link, name: str, arguments: dict) -> types.CallToolResult:
        """tools/call as one raw line out and one in (lines.py, passthrough.py)."""
        try:
            answer = await link.lines.request("tools/call", {"name": name, "arguments": arguments})
        except LinkLost as exc:
            self.mark_down(f"connection lost during a call: {exc}")
            raise ReplicaDown(describe(exc)) from exc
        except LineTooLong as exc:
            raise MalformedAnswer(f"malformed answer from upstream ({self.label}): {exc}") from exc
        result = call_result(answer, self.label)
        self._output_schemas.check(name, result, self.label)
        return result

    # --- health ------------------------------------------------------------------------

    def latency_ms(self) -> float | None:
        times = [ms for ok, ms in self._recent if ok]
        return sum(times) / len(times) if times else None

    def recent_errors(self) -> int:
        return sum(1 for ok, _ in self._recent if not ok)

    def health_score(self) -> float:
        """Lower is better: recent latency, in-flight load and errors.

        The latency here counts failed calls with the time they took: a replica whose
        calls only time out must not look fast for having no successful call.
        """
        durations = [ms for _, ms in self._recent]
        latency = max(1.0, sum(durations) / len(durations)) if durations else 1.0
        errors = self.recent_errors() / max(1, len(self._recent))
        return latency * (1 + self.inflight) * (1 + 10 * errors)

    def status(self) -> ReplicaStatus:
        return ReplicaStatus(
            index=self.index,
            label=self.label,
            state=self.state,
            last_error=self.last_error,
            restarts=self.restarts,
            pid=self.pid,
            latency_ms=self.latency_ms(),
            recent_errors=self.recent_errors(),
        )

    def _set_state(self, state: ServerState) -> None:
        if state != self.state:
            self.state = state
            self._on_state(self)


def describe(exc: BaseException) -> str:
    """A one-line, masked reason; unwraps anyio/asyncio exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, MCPError):
        text = f"{exc.error.message} (code {exc.error.code})"
    else:
        text = str(exc) or type(exc).__name__
        if isinstance(exc, TimeoutError):
            text = "timed out"
        elif not isinstance(exc, ReplicaStartError | MalformedAnswer | ReplicaDown):
            text = f"{type(exc).__name__}: {text}"
    return mask_text(text.splitlines()[0] if text else "")[:500]


def _is_permanent(exc: BaseException) -> bool:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, ReplicaStartError):
        return True
    if isinstance(exc, MCPError):
        return exc.error.code == -32601 or "401" in exc.error.message or "403" in exc.error.message
    status = getattr(getattr(exc, "response", None), "status_code", None)
    return status in (401, 403, 404)


def _looks_like_validation(exc: Exception) -> bool:
    return type(exc).__name__ == "ValidationError" or isinstance(exc, ValueError | TypeError)
