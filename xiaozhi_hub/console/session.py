"""One console connection's state and request handling, whatever the transport.

The WebSocket consumer and the SSE stream each hand a ConsoleSession a
`send_text` coroutine and the connection's user. The session joins the
process's fan-out for the channels it subscribes to, answers requests, and
sends every frame through `send_text` in protocol order: a subscribe's `ok`,
its snapshot, then the deltas (those arriving while the snapshot is read are
held back, not lost). A subscribe or request the user has no permission for
is answered with an `error` frame (permissions.py); a request that acts is
written to the audit log.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from channels.db import database_sync_to_async

from xiaozhi_hub.access import audit
from xiaozhi_hub.broadcast import SYSTEM, ConsoleFrame, make_frame, now_iso
from xiaozhi_hub.masking import mask_text

from . import data
from . import protocol as p
from .fanout import encode, fanout
from .permissions import request_refusal
from .snapshots import snapshot_frame

logger = logging.getLogger(__name__)


def heartbeat_frame(request_id: str | None = None) -> ConsoleFrame:
    return make_frame(
        id=request_id, channel=SYSTEM, type=p.HEARTBEAT, payload={"server_time": now_iso()}
    )


class Refused(Exception):
    """A request the user has no permission for; the message is the reason."""


class ConsoleSession:
    def __init__(self, send_text: Callable[[str], Awaitable[None]], user) -> None:
        self.send_text = send_text
        self.user = user
        self.channels: set[str] = set()
        self.held: list[str] | None = None  # deltas waiting for a snapshot to go out first

    async def send(self, frame: ConsoleFrame) -> None:
        await self.send_text(encode(frame))

    async def _deliver(self, frame: ConsoleFrame, text: str) -> None:
        if self.held is not None:
            self.held.append(text)
        else:
            await self.send_text(text)

    async def join(self, channel: str) -> None:
        await fanout().join(channel, self._deliver)
        self.channels.add(channel)

    async def leave(self, channel: str) -> None:
        self.channels.discard(channel)
        await fanout().leave(channel, self._deliver)

    async def leave_all(self) -> None:
        for channel in list(self.channels):
            await self.leave(channel)

    async def subscribe(self, channel: str, request: p.Request | None = None) -> None:
        """ok + snapshot, then deltas. Joined before the snapshot is read: nothing slips by."""
        already = channel in self.channels
        self.held = []
        try:
            await self.join(channel)
            try:
                snapshot = await snapshot_frame(channel)
            except data.UnknownObject:
                if not already:
                    await self.leave(channel)
                raise
            request = request or p.Request(type=p.SUBSCRIBE)
            await self.send(p.ok(request, {"channel": channel}, channel=channel))
            await self.send(snapshot)
        finally:
            held, self.held = self.held, None
            for text in held:
                await self.send_text(text)

    async def handle(self, request: p.Request) -> None:
        """Answer one request: exactly one frame carries its id (a subscribe adds a snapshot)."""
        try:
            await self._dispatch(request)
        except Exception as exc:
            await self.send(failure(request, exc))

    async def _dispatch(self, request: p.Request) -> None:
        payload = request.payload
        refused = await database_sync_to_async(request_refusal)(self.user, request)
        if refused is not None:
            raise Refused(refused)
        if request.type == p.HEARTBEAT:
            await self.send(heartbeat_frame(request.id))
        elif request.type == p.SUBSCRIBE:
            await self.subscribe(p.subscribable(payload.get("channel")), request)
        elif request.type == p.UNSUBSCRIBE:
            channel = p.subscribable(payload.get("channel"))
            await self.leave(channel)
            await self.send(p.ok(request, {"channel": channel}, channel=channel))
        else:
            result = await database_sync_to_async(perform)(request, self.user)
            await self.send(p.ok(request, result))


def perform(request: p.Request, user) -> dict[str, Any]:
    """Requests that act on the hub (no subscription state); also the SSE POST endpoint's.

    The caller has checked the user's permission (request_refusal); the actions
    are written to the audit log in `user`'s name.
    """
    payload = request.payload
    if request.type == p.SYNC_START:
        arguments = p.sync_arguments(payload)
        result = data.sync_start(**arguments)
        if result.get("queued"):
            action = f"Sync started ({audit.describe_values(arguments)})"
            _audit(user, "chathistory.syncrun", None, "sync", action)
        return result
    if request.type == p.ENDPOINT_RECONNECT:
        endpoint_id = p.endpoint_id(payload, required=True)
        target = f"endpoint {endpoint_id}"
        try:
            result = data.reconnect_endpoint(endpoint_id=endpoint_id)
        except data.NotDone:  # tried (as over REST, the attempt is audited), not done
            _audit(user, "endpoints.endpoint", endpoint_id, target, "Reconnect failed")
            raise
        _audit(user, "endpoints.endpoint", endpoint_id, target, "Reconnected")
        return result
    if request.type == p.ENDPOINT_CHECK:
        return data.check_endpoint(endpoint_id=p.endpoint_id(payload, required=False))
    if request.type in (p.ALERT_ACKNOWLEDGE, p.ALERT_SILENCE):
        return _alert_action(request, user)
    raise p.FrameError(f"{request.type} is not supported here", request.id)


def _alert_action(request: p.Request, user) -> dict[str, Any]:
    alert_id = p.alert_id(request.payload)
    try:
        if request.type == p.ALERT_ACKNOWLEDGE:
            result, action = data.acknowledge_alert(alert_id=alert_id, user=user), "Acknowledged"
        else:
            minutes = request.payload.get("minutes")
            result = data.silence_alert(alert_id=alert_id, minutes=minutes)
            action = f"Silenced for {minutes} min" if minutes else "Silence lifted"
    except data.ActionRefused as exc:
        raise p.FrameError(str(exc), request.id) from None
    _audit(user, "alerts.alert", alert_id, f"alert {alert_id}", action)
    return result


def _audit(user, model: str, object_id, object_repr: str, action: str) -> None:
    audit.audit_action(
        user=user,
        model=model,
        object_id=object_id,
        object_repr=object_repr,
        via=audit.VIA_CONSOLE,
        action=action,
    )


def answer(request: p.Request, user) -> tuple[ConsoleFrame, int]:
    """The one response to a request outside a subscription, and its HTTP status (sync
    callers: the POST endpoint, which has checked the user's permission with
    request_refusal): 200; 503 when the pool did not carry it out; 400 otherwise."""
    try:
        if request.type == p.HEARTBEAT:
            return heartbeat_frame(request.id), 200
        return p.ok(request, perform(request, user)), 200
    except Exception as exc:
        return failure(request, exc), 503 if isinstance(exc, data.NotDone) else 400


def failure(request: p.Request, exc: Exception) -> ConsoleFrame:
    """The error answer for a failed request (call inside `except`)."""
    if isinstance(exc, p.FrameError):
        reason = exc.reason
    elif isinstance(exc, Refused | data.UnknownObject | data.NotDone):
        reason = str(exc)
    else:  # a bug or a dependency down: the client still gets an answer
        logger.exception("console request %s failed", request.type)
        reason = f"{request.type} failed: {mask_text(str(exc))[:300]}"
    return p.error(request.id, reason)
