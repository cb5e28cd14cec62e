"""One endpoint's connection task: dial out, serve MCP, ping, back off, dial again.

Life of a connection (the `state` of its status):

    connecting → connected ⇄ degraded           (health pings decide)
        ↑            │ closed / dead / error
        └─ backoff ←─┘ (delay from backoff.py)  → failed (auth error, expired
                                                   token, attempts used up)
    disabled: the endpoint is switched off, nothing is dialled.

The peer's profile (config.PeerProfile) decides how it is watched. A broker
must send `initialize` within the initialize timeout and is pinged with MCP
`ping` once initialized. A self-hosted relay has no initialize deadline (it
forwards `initialize` only when a device session starts, so it may stay
uninitialized for hours) and is pinged with WebSocket ping frames from the
start, since it drops every request and notification the hub originates.

A dead peer (no pong, half-open TCP) is found within two health intervals:
each ping waits at most PING_TIMEOUT_SHARE of the interval (and at most the
connection timeout); an unanswered ping is confirmed at once by a second one,
and when that one fails too the socket is dropped and the endpoint backs off.
Worst case after the last answered ping: interval + 2 × 0.45 × interval.
Pings are sent on ticks of the loop clock (multiples of the interval, in
PING_GROUPS phases by endpoint id), so the endpoints of one phase are pinged in
one wake-up: about a third of the CPU of pinging each at its own time, while
the queueing adds only a few ms to the measured RTTs (100 endpoints: median
4 ms vs 0.8 ms one by one, vs 19 ms all at once). The first ping of a new
connection comes on the next tick of min(interval, 1 s).

What one peer can make the hub hold is bounded (config.PeerLimits): at most
`max_inflight` of its requests are answered at once, each one over that gets
-32003 at once (nothing is forwarded upstream), and its replies wait in a send
queue of `send_queue_bytes`; a peer that leaves them unread for
`send_timeout` is disconnected (a `protocol` error that says so).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from xiaozhi_hub.masking import mask_text

from .backoff import ADAPTIVE_WINDOW, attempts_exhausted, failure_rate, reconnect_delay
from .config import EndpointConfig, PeerLimits
from .errors import Failure, HealthFailure, ProtocolFailure, classify
from .health import HealthTracker
from .protocol import McpServerHandler, encode, parse_frame, too_many_requests
from .registry import calling_endpoint
from .status import RECONNECT_HISTORY, EndpointStatus
from .tokens import token_expiry

logger = logging.getLogger("endpoints.pool")

PING_TIMEOUT_SHARE = 0.45
STABLE_AFTER_MAX = 60.0  # a connection up this long (or 2 intervals, if less) counts as stable
CLOSE_TIMEOUT_MAX = 5.0
PING_GROUPS = 10  # endpoints pinged per wake-up ≈ endpoints / PING_GROUPS
FIRST_PING_MAX = 1.0  # the first ping of a connection comes within this (or the interval)

StatusCallback = Callable[[EndpointStatus, bool], Awaitable[None]]


@dataclass(frozen=True)
class PingOutcome:
    """A manual check's ping: the RTT (None: no answer) and, when it failed, why.

    failure: None, "not_connected", "timeout" or "peer_error"; detail: the last
    error (not connected), the seconds waited (timeout), the peer's error message.
    """

    rtt_ms: float | None
    failure: str | None
    detail: str
    state: str


class ConnectionLost(Exception):
    """The connection closed (or was never open) before the request was answered."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.seen_at = time.perf_counter()  # when the loss was noticed, for failover timing


class _PingTimeout(Exception):
    """A WebSocket ping got no pong in time (a failed probe, like an MCP ping timeout)."""


def _now() -> datetime:
    return datetime.now(UTC)


class EndpointConnection:
    def __init__(
        self,
        config: EndpointConfig,
        *,
        handler: McpServerHandler,
        max_frame_bytes: int,
        on_status: StatusCallback | None,
        user_agent: str,
        proxy: bool | None = True,
        rng: random.Random | None = None,
        limits: PeerLimits | None = None,
    ) -> None:
        self.config = config
        self.limits = limits or PeerLimits()
        self._token_expiry = token_expiry(config.url)  # the URL never changes for a connection
        self.status = EndpointStatus(
            endpoint_id=config.id,
            name=config.name,
            url=config.url,
            enabled=config.enabled,
            state="connecting" if config.enabled else "disabled",
            token_expires_at=self._token_expiry,
            peer_profile=config.profile.name,
        )
        self.health = HealthTracker()
        self._handler = handler
        self._max_frame_bytes = max_frame_bytes
        self._on_status = on_status
        self._user_agent = user_agent
        self._proxy = proxy
        self._rng = rng
        self._task: asyncio.Task | None = None
        self._ws: ClientConnection | None = None
        self._pending: dict[int, asyncio.Future] = {}
        self._ids = itertools.count(1)
        self._calls: dict[object, asyncio.Task] = {}  # by request id, for cancellation
        self._inflight: set[asyncio.Task] = set()  # every request being answered
        self._warned_inflight = False
        self._wake = asyncio.Event()
        self._initialized = asyncio.Event()
        self._answered_initialize = False
        self._skip_delay = False
        self._stopping = False
        self._abort_reason: Exception | None = None
        self._stable: deque[bool] = deque(maxlen=ADAPTIVE_WINDOW)

    # -- public ------------------------------------------------------------

    @property
    def endpoint_id(self) -> int:
        return self.config.id

    @property
    def ready(self) -> bool:
        """Connected and initialized: can serve the hub's requests."""
        return self._ws is not None and self.status.initialized

    @property
    def score(self) -> float:
        return self.status.health_score

    @property
    def degraded(self) -> bool:
        return self.status.state == "degraded"

    @property
    def routes_hub_messages(self) -> bool:
        """False for a relay: it drops the hub's own requests and notifications."""
        return self.config.profile.routes_hub_messages

    @property
    def ping_timeout(self) -> float:
        options = self.config.options
        return min(options.connection_timeout, PING_TIMEOUT_SHARE * options.health_check_interval)

    async def start(self) -> None:
        if not self.config.enabled:
            await self._emit(True)
            return
        self._task = asyncio.create_task(self._run(), name=f"endpoint-{self.config.id}")

    async def stop(self, reason: str = "endpoint removed") -> None:
        """Close with a 1000 close frame and end the task; nothing is left running."""
        self._stopping = True
        self._wake.set()
        ws = self._ws
        if ws is not None:
            await self._close(ws, 1000, reason)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def reconnect(self) -> None:
        """Dial again now: drops a live connection, cuts a backoff short, resumes `failed`."""
        if self._task is None:
            return  # disabled
        self.status.reconnect_attempts = 0
        self._skip_delay = True
        ws = self._ws
        if ws is not None:
            await self._close(ws, 1000, "reconnect requested")
        self._wake.set()

    async def rename(self, config: EndpointConfig) -> None:
        """Take a config that differs only in name or tool-change handling; the connection stays."""
        self.config = config
        self.status.name = config.name
        await self._emit(False)

    async def request(
        self,
        method: str,
        params: dict | None = None,
        *,
        timeout: float | None = None,
        on_sent: Callable[[], None] | None = None,
    ) -> tuple[dict, float]:
        """Send a request to the peer; (its response message, RTT in ms).

        Raises ConnectionLost or TimeoutError (which counts as a failed probe).
        """
        ws = self._ws
        if ws is None:
            raise ConnectionLost("not connected")
        request_id = next(self._ids)
        message: dict = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        future = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        self.status.total_requests += 1
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout or self.config.options.connection_timeout):
                try:
                    await ws.send(encode(message))
                except ConnectionClosed as exc:
                    raise ConnectionLost("connection closed") from exc
                if on_sent is not None:
                    on_sent()
                reply = await future
        except TimeoutError:
            self.health.record_failure()
            await self._refresh_and_emit()
            raise
        except ConnectionLost:
            # Not a health sample: the loss is handled (and reported) by the reconnect.
            # No callback here either, so a failover is not held up by it.
            raise
        finally:
            self._pending.pop(request_id, None)
            if future.done() and not future.cancelled():
                future.exception()  # retrieved: we may have left before awaiting it
        rtt_ms = round((time.perf_counter() - started) * 1000.0, 2)
        self.status.successful_requests += 1
        self.health.record_success(rtt_ms)
        await self._refresh_and_emit()
        return reply, rtt_ms

    async def ping(self, timeout: float | None = None) -> float | None:
        """One MCP ping; RTT in ms, or None when it failed or timed out."""
        return (await self.check(timeout)).rtt_ms

    async def check(self, timeout: float | None = None) -> PingOutcome:
        """One ping that says why it failed (a manual check shows the reason).

        An MCP ping for a broker, a WebSocket ping frame for a relay. An error
        answer is an answer (it has an RTT, and keeps the connection healthy),
        but a check reports it as a failure with the peer's message.
        """
        timeout = timeout or self.ping_timeout
        if not self.config.profile.mcp_ping:
            return await self._check_frame(timeout)
        try:
            reply, rtt_ms = await self.request("ping", timeout=timeout)
        except ConnectionLost as exc:
            detail = self.status.last_error or str(exc)
            return PingOutcome(None, "not_connected", mask_text(detail), self.status.state)
        except TimeoutError:
            return PingOutcome(None, "timeout", f"{timeout:g}", self.status.state)
        error = reply.get("error") if isinstance(reply, dict) else None
        if error is not None:
            message = error.get("message") if isinstance(error, dict) else error
            detail = mask_text(str(message))[:300]
            return PingOutcome(rtt_ms, "peer_error", detail, self.status.state)
        return PingOutcome(rtt_ms, None, "", self.status.state)

    async def _check_frame(self, timeout: float) -> PingOutcome:
        """A WebSocket ping frame; its pong gives the RTT (a relay answers these)."""
        try:
            rtt_ms = await self._ping_frame(timeout)
        except ConnectionLost as exc:
            detail = self.status.last_error or str(exc)
            return PingOutcome(None, "not_connected", mask_text(detail), self.status.state)
        except _PingTimeout:
            return PingOutcome(None, "timeout", f"{timeout:g}", self.status.state)
        return PingOutcome(rtt_ms, None, "", self.status.state)

    async def _ping_frame(self, timeout: float) -> float:
        """RTT in ms of one ping frame, recorded as a probe like an MCP ping's."""
        ws = self._ws
        if ws is None:
            raise ConnectionLost("not connected")
        self.status.total_requests += 1
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                pong = await ws.ping()
                await pong
        except ConnectionClosed as exc:
            raise ConnectionLost("connection closed") from exc
        except TimeoutError:
            self.health.record_failure()
            await self._refresh_and_emit()
            raise _PingTimeout from None
        rtt_ms = round((time.perf_counter() - started) * 1000.0, 2)
        self.status.successful_requests += 1
        self.health.record_success(rtt_ms)
        await self._refresh_and_emit()
        return rtt_ms

    async def notify(self, method: str, params: dict | None = None) -> bool:
        """Send a notification to an initialized peer; False when it was not sent
        (not initialized, or a relay, which would drop it)."""
        ws = self._ws
        if ws is None or not self.status.initialized or not self.routes_hub_messages:
            return False
        message: dict = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        return await self._send(ws, message)

    # -- the task --------------------------------------------------------------

    async def _run(self) -> None:
        options = self.config.options
        while not self._stopping:
            failure = await self._attempt()
            if self._stopping:
                break
            self._note_failure(failure)
            if not failure.retry:
                self._remember(failure, None)
                await self._park(failure.message)
                continue
            if self._skip_delay:
                self._skip_delay = False
                continue
            self.status.reconnect_attempts += 1
            attempts = self.status.reconnect_attempts
            if attempts_exhausted(options, attempts):
                self._remember(failure, None)
                await self._park(
                    f"gave up after {attempts} attempts; last error: {failure.message}"
                )
                continue
            delay = reconnect_delay(
                options, attempts, failure_rate=failure_rate(self._stable), rng=self._rng
            )
            self._remember(failure, delay)
            self.status.state = "backoff"
            self.status.next_reconnect_at = _now() + timedelta(seconds=delay)
            await self._emit(True)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):  # or until reconnect() wakes us
                    await self._wake.wait()
            self.status.next_reconnect_at = None

    async def _attempt(self) -> Failure:
        self._wake.clear()
        self._skip_delay = False
        url = self.config.url
        options = self.config.options
        expiry = self._token_expiry
        self.status.token_expired = expiry is not None and expiry <= _now()
        if self.status.token_expired:
            return Failure(
                "auth",
                f"the endpoint token expired at {expiry.isoformat()}; "
                "regenerate the endpoint URL and update it",
                retry=False,
            )
        self.status.state = "connecting"
        await self._emit(True)
        health_pings = self.config.health_check_enabled
        try:
            ws = await connect(
                url,
                open_timeout=options.connection_timeout,
                max_size=self._max_frame_bytes,
                compression=None,  # no per-connection zlib state; MCP frames are small
                # Our MCP pings are the keepalive; without them, WebSocket pings are.
                ping_interval=None if health_pings else options.health_check_interval,
                ping_timeout=None if health_pings else self.ping_timeout,
                close_timeout=min(options.connection_timeout, CLOSE_TIMEOUT_MAX),
                write_limit=self.limits.send_queue_bytes,  # sends wait above this
                user_agent_header=self._user_agent,
                proxy=self._proxy,
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._stable.append(False)
            return classify(exc)
        return await self._serve(ws)

    async def _serve(self, ws: ClientConnection) -> Failure:
        loop = asyncio.get_running_loop()
        self._ws = ws
        self._abort_reason = None
        self._initialized = asyncio.Event()
        self._answered_initialize = False
        self._warned_inflight = False
        self.health.reset_streak()
        self.status.connected = True
        self.status.initialized = False
        self.status.last_connected = _now()
        self._refresh()
        await self._emit(True)
        opened_at = loop.time()
        watcher = asyncio.create_task(self._watch(ws))
        try:
            while True:
                frame = await ws.recv()
                await self._on_frame(ws, frame)
        except ConnectionClosed as exc:
            self._fail_pending()  # first: waiting requests fail over without delay
            failure = classify(self._abort_reason or exc)
        except Exception as exc:  # a bug of ours must not kill the endpoint for good
            logger.exception("endpoint %s: unexpected error", self.config.name)
            failure = classify(exc)
            await self._close(ws, 1011, "internal error")
        finally:
            self._ws = None
            if ws.state is not State.CLOSED:
                ws.transport.abort()  # cancelled mid-read (stop() closed it cleanly before)
            watcher.cancel()
            calls = list(self._inflight)
            for task in calls:
                task.cancel()
            self._calls.clear()
            self._inflight.clear()
            self._fail_pending()
            await asyncio.gather(watcher, *calls, return_exceptions=True)
            self.status.connected = False
            self.status.initialized = False
            self._refresh()
        stable_after = min(STABLE_AFTER_MAX, 2 * self.config.options.health_check_interval)
        watched = self._initialized.is_set() or not self.config.profile.mcp_ping
        stable = watched and loop.time() - opened_at >= stable_after
        self._stable.append(stable)
        if stable:
            self.status.reconnect_attempts = 0
        return failure

    async def _watch(self, ws: ClientConnection) -> None:
        """Initialize deadline (brokers), then the health pings of one live connection."""
        options = self.config.options
        profile = self.config.profile
        deadline = profile.initialize_timeout
        if deadline is None:
            deadline = options.connection_timeout
        if deadline:
            try:
                async with asyncio.timeout(deadline):
                    await self._initialized.wait()
            except TimeoutError:
                self._abort_reason = ProtocolFailure(
                    f"the peer did not initialize within {deadline:g} s"
                )
                await self._close(ws, 1008, "initialize not received")
                return
        elif profile.mcp_ping:
            await self._initialized.wait()  # an MCP ping needs an initialized session
        if not self.config.health_check_enabled:
            return
        # Pings go out on ticks of the loop clock shared by every endpoint with the
        # same interval: one wake-up sends them all and their answers arrive
        # together, which costs far less CPU than a wake-up per endpoint. The first
        # tick is at most FIRST_PING_MAX away: a fresh RTT for the new connection.
        # Endpoints fall into PING_GROUPS phases by id, so a thousand endpoints are
        # not all pinged at once (their queued answers would inflate the RTTs).
        loop = asyncio.get_running_loop()
        interval = options.health_check_interval
        tick = min(interval, FIRST_PING_MAX)
        phase = (self.config.id % PING_GROUPS) / PING_GROUPS
        while True:
            await asyncio.sleep(tick - (loop.time() - phase * tick) % tick)
            tick = interval
            if await self.ping() is not None or await self.ping() is not None:
                continue
            if ws.state is State.OPEN:
                kind = "health pings" if profile.mcp_ping else "WebSocket pings"
                # Unanswered because the peer has not even read them: say that.
                self._abort_reason = self._unread_replies(ws, self.ping_timeout) or HealthFailure(
                    f"2 {kind} in a row got no answer within {self.ping_timeout:g} s"
                )
                ws.transport.abort()  # the peer is gone or half-open: no close handshake
            return

    # -- frames ----------------------------------------------------------------

    async def _on_frame(self, ws: ClientConnection, frame: str | bytes) -> None:
        incoming = parse_frame(frame)
        if incoming.kind == "invalid":
            await self._send(ws, incoming.reply)
            return
        message = incoming.message
        if incoming.kind == "response":
            future = self._pending.get(message["id"])
            if future is not None and not future.done():
                future.set_result(message)
            return
        if incoming.kind == "notification":
            await self._on_notification(message)
            return
        method = message["method"]
        if method == "initialize":
            reply = await self._handler.respond(message)
            self._answered_initialize = self._answered_initialize or "result" in reply
            await self._send(ws, reply)
            return
        if self._answered_initialize:
            await self._mark_initialized()  # clients that skip notifications/initialized
        if method == "ping":
            await self._send(ws, await self._handler.respond(message))
            return
        # Everything else may be slow (tools): answer concurrently, keep reading,
        # up to the in-flight cap (counted by task: ids may repeat).
        limit = self.limits.max_inflight
        if len(self._inflight) >= limit:
            if not self._warned_inflight:
                self._warned_inflight = True  # once per connection, not once per request
                logger.warning(
                    "endpoint %s: the peer has %d requests in flight; more are refused "
                    "with -32003 (HUB_ENDPOINT_MAX_INFLIGHT)",
                    self.config.name,
                    limit,
                )
            await self._send(ws, too_many_requests(message["id"], limit))
            return
        task = asyncio.create_task(self._answer(ws, message))
        key = message["id"]
        self._calls[key] = task
        self._inflight.add(task)
        task.add_done_callback(lambda done, key=key: self._call_done(key, done))

    def _call_done(self, key: object, task: asyncio.Task) -> None:
        self._inflight.discard(task)
        if self._calls.get(key) is task:
            del self._calls[key]

    async def _on_notification(self, message: dict) -> None:
        method = message["method"]
        if method == "notifications/initialized" and self._answered_initialize:
            await self._mark_initialized()
        elif method == "notifications/cancelled":
            params = message.get("params")
            request_id = params.get("requestId") if isinstance(params, dict) else None
            task = self._calls.get(request_id) if isinstance(request_id, int | str) else None
            if task is not None:
                task.cancel()  # the peer gave up on it and expects no answer

    async def _answer(self, ws: ClientConnection, message: dict) -> None:
        calling_endpoint.set(self.config.id)  # this task's own context: no reset needed
        reply = await self._handler.respond(message)
        await self._send(ws, reply)
        if message["method"] == "tools/call":
            self.status.tool_calls += 1
            await self._emit(False)

    def _fail_pending(self) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionLost("connection closed"))
        self._pending.clear()

    async def _mark_initialized(self) -> None:
        if self.status.initialized:
            return
        self.status.initialized = True
        self._initialized.set()
        self._refresh()
        await self._emit(True)

    async def _send(self, ws: ClientConnection, message: dict) -> bool:
        timeout = self.limits.send_timeout
        try:
            async with asyncio.timeout(timeout):  # waits only while the send queue is full
                await ws.send(encode(message))
            return True
        except ConnectionClosed:
            return False  # the receive loop sees the close and handles it
        except TimeoutError:
            # No close handshake: the close frame would queue behind the unread replies.
            if self._abort_reason is None:
                self._abort_reason = self._unread_replies(ws, timeout, full=True)
            ws.transport.abort()
            return False

    def _unread_replies(
        self, ws: ClientConnection, waited: float, *, full: bool = False
    ) -> ProtocolFailure | None:
        """The failure of a peer that leaves its replies unread; None if the queue has room."""
        queued = ws.transport.get_write_buffer_size()
        if not full and queued <= self.limits.send_queue_bytes:
            return None
        return ProtocolFailure(
            f"the peer does not read its replies: {queued} bytes of them waited more than "
            f"{waited:g} s (send queue limit {self.limits.send_queue_bytes} bytes)"
        )

    async def _close(self, ws: ClientConnection, code: int, reason: str) -> None:
        try:
            await asyncio.wait_for(ws.close(code, reason), CLOSE_TIMEOUT_MAX + 1)
        except Exception:
            ws.transport.abort()

    # -- status ----------------------------------------------------------------

    def _note_failure(self, failure: Failure) -> None:
        if failure.error_class is not None:
            self.status.last_error = failure.message
            self.status.error_class = failure.error_class
            logger.warning(
                "endpoint %s: %s error: %s", self.config.name, failure.error_class, failure.message
            )
        else:
            logger.info("endpoint %s: %s", self.config.name, failure.message)

    def _remember(self, failure: Failure, delay: float | None) -> None:
        """One reconnect-history entry; delay None: no retry follows (`failed`)."""
        history = self.status.reconnect_history
        history.append(
            {
                "at": _now(),
                "error_class": failure.error_class,
                "error": failure.message,
                "delay": round(delay, 3) if delay is not None else None,
            }
        )
        del history[:-RECONNECT_HISTORY]

    async def _park(self, message: str) -> None:
        """`failed`: wait for an operator (reconnect) or a config change (a new connection)."""
        self.status.state = "failed"
        self.status.last_error = message
        self.status.next_reconnect_at = None
        await self._emit(True)
        await self._wake.wait()
        self.status.reconnect_attempts = 0

    def _refresh(self) -> bool:
        """Copy the health figures into the status; True when the state changed."""
        status, health = self.status, self.health
        status.rtt_ms = health.last_rtt_ms
        status.rtt_p95_ms = health.rtt_p95_ms
        status.rtt_history = health.rtt_history
        status.consecutive_failures = health.consecutive_failures
        before = status.state
        if status.connected:
            status.health_score = health.score
            degraded = self._watched and health.degraded
            status.state = "degraded" if degraded else "connected"
            if self._watched and not health.consecutive_failures:
                self._maybe_reset_attempts()
        else:
            status.health_score = 0.0
        return status.state != before

    @property
    def _watched(self) -> bool:
        """Health pings run: a broker once initialized, a relay from the start."""
        return self.status.initialized or not self.config.profile.mcp_ping

    def _maybe_reset_attempts(self) -> None:
        last = self.status.last_connected
        stable_after = min(STABLE_AFTER_MAX, 2 * self.config.options.health_check_interval)
        if last is not None and (_now() - last).total_seconds() >= stable_after:
            self.status.reconnect_attempts = 0

    async def _refresh_and_emit(self) -> None:
        changed = self._refresh()
        await self._emit(changed)

    async def _emit(self, state_changed: bool) -> None:
        if self._on_status is None:
            return
        try:
            await self._on_status(self.status.snapshot(), state_changed)
        except Exception:
            logger.exception("endpoint %s: the status callback failed", self.config.name)
