"""The console WebSocket (/ws/console/, also /ws/admin/): the JSON frames of docs/console.md.

The protocol itself (protocol.py, session.py) is shared with the SSE
fallback; this consumer adds what is WebSocket-specific: the handshake, close
codes, frame size and rate limits, and the heartbeat watchdog.

However a connection ends (the client closes or vanishes, the server closes
it, a frame makes the handling fail, daphne cancels the instance), `__call__`
ends it: the watchdog is cancelled, the fan-out left, and the subscriber slot
released. A leaked slot stays renewed by its watchdog, and enough of them lock
every operator out with 4429.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from xiaozhi_hub.broadcast import SYSTEM, make_frame, now_iso

from . import protocol as p
from .auth import refusal
from .limits import TokenBucket, connections
from .session import ConsoleSession, heartbeat_frame

logger = logging.getLogger(__name__)


class ConsoleConsumer(AsyncWebsocketConsumer):
    # No layer channel per socket: events reach sockets through the process's
    # fan-out (fanout.py), one Redis delivery per process, not per socket.
    channel_layer_alias = None
    member = ""  # this socket's entry in the connection registry
    session: ConsoleSession | None = None
    watchdog: asyncio.Task | None = None

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._end()

    async def connect(self) -> None:
        # Accept first, then close: a close before the handshake completes
        # reaches browsers as a bare HTTP 403 without our code and reason.
        await self.accept()
        user = self.scope.get("user")
        refused = refusal(user, self.scope.get("console_auth_error"))
        if refused is not None:
            await self.close(code=refused[0], reason=refused[1])
            return
        self.member = f"ws.{uuid.uuid4().hex}"
        if not await connections.claim(self.member):
            await self.close(code=p.CLOSE_TOO_MANY, reason="too many subscribers")
            return
        self.session = ConsoleSession(self._send_text, user)
        self.bucket = TokenBucket(rate=settings.HUB_CONSOLE_RATE, burst=settings.HUB_CONSOLE_BURST)
        self.last_heard = time.monotonic()
        await self.session.join(SYSTEM)
        await self.session.send(
            make_frame(
                channel=SYSTEM,
                type="hello",
                payload={
                    "user": user.get_username(),
                    "server_time": now_iso(),
                    "transport": "ws",
                    "heartbeat_interval": settings.HUB_CONSOLE_HEARTBEAT_INTERVAL,
                    "heartbeat_timeout": settings.HUB_CONSOLE_HEARTBEAT_TIMEOUT,
                    "max_frame_bytes": settings.HUB_CONSOLE_MAX_FRAME_BYTES,
                },
            )
        )
        self.watchdog = asyncio.create_task(self._heartbeat())

    async def disconnect(self, code: int) -> None:
        await self._end()

    async def _end(self) -> None:
        """Stop the watchdog, leave the fan-out, free the slot; safe to call more than once."""
        watchdog, self.watchdog = self.watchdog, None
        session, self.session = self.session, None
        member, self.member = self.member, ""
        try:
            if watchdog is not None and watchdog is not asyncio.current_task():
                watchdog.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watchdog
            if session is not None:
                await session.leave_all()
        finally:
            if member:
                await connections.release(member)

    async def _heartbeat(self) -> None:
        """Send heartbeats; close a client that has been silent past the timeout."""
        interval = settings.HUB_CONSOLE_HEARTBEAT_INTERVAL
        timeout = settings.HUB_CONSOLE_HEARTBEAT_TIMEOUT
        tick = min(interval, timeout / 4)
        next_beat = time.monotonic() + interval
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            if now - self.last_heard > timeout:
                await self.close(code=p.CLOSE_HEARTBEAT_TIMEOUT, reason="heartbeat timeout")
                await self._end()
                return
            if now >= next_beat and self.session is not None:
                next_beat = now + interval
                try:
                    await self.session.send(heartbeat_frame())
                except Exception:  # the socket is going away; disconnect() cleans up
                    logger.debug("console heartbeat not sent", exc_info=True)
                    return
                await connections.refresh(self.member)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.session is None:  # refused in connect, or ending; the close is on its way
            return
        self.last_heard = time.monotonic()
        try:
            await self._answer(text_data, bytes_data)
        except Exception:
            # A bug must not cost the operator the connection (nor, before
            # __call__ cleaned up, a leaked slot): answer and carry on.
            logger.exception("console frame could not be handled")
            if self.session is not None:
                await self.session.send(p.error(None, "the server could not handle this frame"))

    async def _answer(self, text_data: str | None, bytes_data: bytes | None) -> None:
        size = len(text_data.encode()) if text_data is not None else len(bytes_data or b"")
        if size > settings.HUB_CONSOLE_MAX_FRAME_BYTES:
            await self.close(code=p.CLOSE_TOO_BIG, reason="frame too large")
            await self._end()
            return
        request, problem = None, None
        try:
            request = p.parse_frame(text_data)
        except p.FrameError as exc:
            problem = exc
        if not self.bucket.take():
            request_id = request.id if request else problem.request_id
            reason = f"rate limit: at most {settings.HUB_CONSOLE_RATE} frames/s"
            await self.session.send(p.error(request_id, reason))
            return
        if request is None:
            # Bad input gets an error frame; it never closes the socket.
            await self.session.send(p.error(problem.request_id, problem.reason))
            return
        await self.session.handle(request)

    async def _send_text(self, text: str) -> None:
        await self.send(text_data=text)
