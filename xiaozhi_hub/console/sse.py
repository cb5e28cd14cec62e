"""Server-Sent Events fallback: GET /console/events?channels=health,chat:<mac>.

For networks that block WebSockets. The stream carries the same frames as
the socket: `hello`, then `ok` + snapshot per requested channel, then the
deltas of those channels and heartbeats. The stream joins the process's
fan-out like a socket does and leaves it when the client goes away (Django
cancels the response; `finally` cleans up).
Requests go to POST /console/request (views.RequestView). Permissions are the
socket's (permissions.py): without any console permission the answer is 403,
and so it is for a channel the user may not read, with the reason.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

from channels.db import database_sync_to_async
from django.conf import settings
from django.http import JsonResponse, StreamingHttpResponse

from xiaozhi_hub.broadcast import SYSTEM, make_frame, now_iso

from . import data
from . import protocol as p
from .auth import INVALID_TOKEN, refusal, token_from_header, user_for_token
from .fanout import encode
from .limits import connections
from .permissions import subscribe_refusal
from .session import ConsoleSession, heartbeat_frame

MAX_CHANNELS = 20


async def request_user(request):
    """(user, auth error): a token header wins over the session, as on the socket."""
    key = token_from_header(request.headers.get("Authorization"))
    if key is not None:
        user = await database_sync_to_async(user_for_token)(key)
        return user, None if user else INVALID_TOKEN
    return await request.auser(), None


def requested_channels(raw: str) -> list[str]:
    names = [name.strip() for name in raw.split(",") if name.strip()]
    if len(names) > MAX_CHANNELS:
        raise p.FrameError(f"at most {MAX_CHANNELS} channels per stream")
    return list(dict.fromkeys(p.subscribable(name) for name in names))


def channels_refusal(user, channels: list[str]) -> str | None:
    for channel in channels:
        reason = subscribe_refusal(user, channel)
        if reason is not None:
            return reason
    return None


async def events(request):
    user, auth_error = await request_user(request)
    refused = await database_sync_to_async(refusal)(user, auth_error)
    if refused is not None:
        code, reason = refused
        status = 401 if code == p.CLOSE_UNAUTHENTICATED else 403
        return JsonResponse(p.error(None, reason), status=status)
    try:
        channels = requested_channels(request.GET.get("channels", ""))
    except p.FrameError as exc:
        return JsonResponse(p.error(None, exc.reason), status=400)
    reason = await database_sync_to_async(channels_refusal)(user, channels)
    if reason is not None:
        return JsonResponse(p.error(None, reason), status=403)
    response = StreamingHttpResponse(
        stream(channels, user), content_type="text/event-stream; charset=utf-8"
    )
    response["Cache-Control"] = "no-cache, no-store"
    response["X-Accel-Buffering"] = "no"  # nginx: do not buffer the stream
    return response


def event(text: str) -> bytes:
    return f"data: {text}\n\n".encode()


async def stream(channels: list[str], user) -> AsyncIterator[bytes]:
    interval = settings.HUB_CONSOLE_HEARTBEAT_INTERVAL
    member = f"sse.{uuid.uuid4().hex}"
    outbox: asyncio.Queue[str] = asyncio.Queue()
    session = ConsoleSession(outbox.put, user)
    try:
        # Claimed here, not in the view: only a stream that runs can release it.
        if not await connections.claim(member):
            refused = p.error(None, "too many subscribers")
            refused["payload"]["code"] = p.CLOSE_TOO_MANY
            yield event(encode(refused))
            return
        hello = {
            "user": user.get_username(),
            "server_time": now_iso(),
            "transport": "sse",
            "heartbeat_interval": interval,
            "heartbeat_timeout": settings.HUB_CONSOLE_HEARTBEAT_TIMEOUT,
        }
        yield b"retry: 3000\n\n" + event(
            encode(make_frame(channel=SYSTEM, type="hello", payload=hello))
        )
        await session.join(SYSTEM)
        for channel in channels:
            try:
                await session.subscribe(channel)
            except data.UnknownObject as exc:
                await session.send(p.error(None, str(exc), channel=channel))
        while True:
            try:
                text = await asyncio.wait_for(outbox.get(), timeout=interval)
            except TimeoutError:
                # Keeps proxies from timing the stream out, and tells the client we live.
                yield b": keep-alive\n\n" + event(encode(heartbeat_frame()))
                await connections.refresh(member)
                continue
            yield event(text)
    finally:
        await session.leave_all()
        await connections.release(member)
