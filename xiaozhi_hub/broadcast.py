"""The one broadcast helper: every console event goes out through here (transport only).

Producers (Celery tasks, the background runtime, views) call `broadcast`
or `abroadcast`; open console sockets in the `console.<channel>` group
receive the frame `{"id": null, "channel", "type", "payload"}`
(docs/console.md). Payload shapes belong to their producers.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from typing import Any, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

# Producers own their event names and payload TypedDicts (chathistory/events.py,
# endpoints/events.py, xiaozhi_hub/tasks.py); the transport takes any of them.
EventType = str

# Console channels (a socket subscribes to these; see the console consumer).
SYSTEM = "system"
HEALTH = "health"  # endpoint_health
SYNC = "sync"  # sync:progress, sync:done
CHAT = "chat"  # chat_update for every device


def chat_channel(device: int | str) -> str:
    """The per-device chat channel: `chat:<device pk>`, or the older `chat:<mac>` of a
    device whose identifier is a MAC (an identifier may hold any character; a pk never)."""
    return f"{CHAT}:{device}"


class ConsoleFrame(TypedDict):
    id: str | None
    channel: str
    type: str
    payload: dict[str, Any]


# The handler name on the consumer is derived from this: console_event().
LAYER_MESSAGE_TYPE = "console.event"
_GROUP_UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]")

# In one-process mode (runhub) the in-memory channel layer's queues belong to
# the ASGI server's event loop; events from other threads hop onto it.
_server_loop: asyncio.AbstractEventLoop | None = None


def bind_server_loop(loop: asyncio.AbstractEventLoop | None) -> None:
    global _server_loop
    _server_loop = loop


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def group_name(channel: str) -> str:
    """The Channels group for a console channel (group names allow few characters)."""
    return "console." + _GROUP_UNSAFE.sub("_", channel)[:90]


def make_frame(
    *, channel: str, type: str, payload: dict[str, Any], id: str | None = None
) -> ConsoleFrame:
    return {"id": id, "channel": channel, "type": type, "payload": payload}


async def _group_send(channel: str, event_type: EventType, payload: dict[str, Any]) -> None:
    frame = make_frame(channel=channel, type=event_type, payload=dict(payload))
    layer = get_channel_layer()
    await layer.group_send(group_name(channel), {"type": LAYER_MESSAGE_TYPE, "frame": frame})


def _server_loop_elsewhere() -> asyncio.AbstractEventLoop | None:
    """The bound server loop when the caller is not already running on it."""
    loop = _server_loop
    if loop is None or not loop.is_running():
        return None
    try:
        here = asyncio.get_running_loop()
    except RuntimeError:
        here = None
    return None if here is loop else loop


def broadcast(channel: str, event_type: EventType, payload: dict[str, Any]) -> None:
    """Send one event to every console socket subscribed to `channel` (sync callers)."""
    loop = _server_loop_elsewhere()
    if loop is not None:
        asyncio.run_coroutine_threadsafe(_group_send(channel, event_type, payload), loop).result(5)
    else:
        async_to_sync(_group_send)(channel, event_type, payload)


async def abroadcast(channel: str, event_type: EventType, payload: dict[str, Any]) -> None:
    """The same for async callers, from any event loop."""
    loop = _server_loop_elsewhere()
    if loop is not None:
        future = asyncio.run_coroutine_threadsafe(_group_send(channel, event_type, payload), loop)
        await asyncio.wrap_future(future)
    else:
        await _group_send(channel, event_type, payload)
