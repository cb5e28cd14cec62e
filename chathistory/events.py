"""Console events of the chat-history hub, all through xiaozhi_hub.broadcast."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from datetime import datetime
from typing import Any, Literal, TypedDict, TypeVar

from asgiref.sync import async_to_sync

from xiaozhi_hub.broadcast import CHAT, SYNC, abroadcast, broadcast, chat_channel

from .devices import is_mac
from .models.source import DEFAULT_SOURCE

logger = logging.getLogger(__name__)
T = TypeVar("T")


# --- payloads (snake_case keys: the chat and sync families; docs/console.md) ---------
class ChatMessagePayload(TypedDict):
    id: int
    source: str  # the key of the Source the message was copied from
    source_id: int | None
    device: str | None  # the device's identifier (chathistory/devices.py)
    device_pk: int | None  # its primary key: what URLs and the chat:<device_pk> channel use
    session_id: str | None
    agent_id: str | None
    role: Literal["user", "agent", "tool"]
    content: str
    speaker: str | None
    tool_name: str | None
    tool_arguments: Any
    created_at: str
    audio: bool  # a player is offered: GET /api/v2/messages/<id>/audio (docs/audio.md)


class ChatUpdatePayload(TypedDict):
    # Sent on "chat" and on "chat:<device_pk>" for each device in the batch (and on the older
    # "chat:<mac>" when the device's identifier is a MAC).
    source: str  # the device's source: a device is (source, identifier)
    device: str | None
    device_pk: int | None
    messages: list[ChatMessagePayload]


class SyncProgressPayload(TypedDict):
    source: str
    run_id: int
    rows_read: int
    rows_written: int
    cursor: str


class SyncDonePayload(TypedDict):
    source: str
    run_id: int | None
    status: Literal["success", "failed", "skipped", "abandoned"]
    rows_read: int
    rows_written: int
    error: str
    duration_ms: int


# A backfill batch can hold thousands of messages per device; a console shows
# the newest few, so each chat_update carries at most this many per device.
MAX_MESSAGES_PER_UPDATE = 50
# A backfill batch touches hundreds of devices with old messages; live updates
# go to the most recently active ones, the rest is read from the API on demand.
MAX_DEVICES_PER_BATCH = 20


def newest_per_device(items: Iterable[T], *, device: Callable[[T], Hashable], order) -> list[T]:
    """What one batch's chat_updates carry: the newest messages of the most recently active
    devices (MAX_MESSAGES_PER_UPDATE each, MAX_DEVICES_PER_BATCH devices), oldest first."""
    by_device: dict[Hashable, list[T]] = defaultdict(list)
    for item in items:
        by_device[device(item)].append(item)
    groups = [sorted(group, key=order)[-MAX_MESSAGES_PER_UPDATE:] for group in by_device.values()]
    groups.sort(key=lambda group: order(group[-1]), reverse=True)
    return [item for group in groups[:MAX_DEVICES_PER_BATCH] for item in group]


def message_payload(
    *,
    id: int,
    source_id: int | None,
    device: str | None,
    device_pk: int | None,
    session_id: str | None,
    agent_id: str | None,
    role: str,
    content: str,
    speaker: str | None,
    tool_name: str | None,
    tool_arguments: Any,
    created_at: datetime,
    source: str = DEFAULT_SOURCE,
    audio: bool = False,
) -> ChatMessagePayload:
    """The one builder of a message as consoles, the REST API and exports see it.

    Devices, sessions and agents are named by their natural keys (device identifier,
    session id, agent id); the device also by its primary key. `role` to `tool_arguments`
    are the fields of parsing.ParsedContent, so a parsed row can be passed as `**asdict(parsed)`.
    """
    return ChatMessagePayload(
        id=id,
        source=source,
        source_id=source_id,
        device=device,
        device_pk=device_pk,
        session_id=session_id,
        agent_id=agent_id,
        role=role,
        content=content,
        speaker=speaker,
        tool_name=tool_name,
        tool_arguments=tool_arguments,
        created_at=created_at.isoformat(timespec="milliseconds"),
        audio=audio,
    )


def _safe(channel: str, event_type, payload: dict) -> None:
    # A console that cannot be reached never fails a sync or an ingest.
    try:
        broadcast(channel, event_type, payload)
    except Exception:  # noqa: BLE001
        logger.warning("could not broadcast %s on %s", event_type, channel, exc_info=True)


def send_chat_updates(messages: Iterable[ChatMessagePayload]) -> None:
    """One chat_update per device on its own channel, and the same on the global one."""
    chosen = newest_per_device(
        messages, device=lambda m: m["device_pk"], order=lambda m: (m["created_at"], m["id"])
    )
    by_device: dict[int | None, list[ChatMessagePayload]] = defaultdict(list)
    for message in chosen:
        by_device[message["device_pk"]].append(message)
    events = [
        ChatUpdatePayload(
            source=items[0]["source"], device=items[0]["device"], device_pk=pk, messages=items
        )
        for pk, items in by_device.items()
    ]

    async def send_all() -> None:
        # One hop into async for the whole batch, not one per event.
        for payload in events:
            for channel in _channels(payload):
                try:
                    await abroadcast(channel, "chat_update", payload)
                except Exception:  # noqa: BLE001
                    logger.warning("could not broadcast chat_update on %s", channel, exc_info=True)

    if events:
        async_to_sync(send_all)()


def _channels(update: ChatUpdatePayload) -> list[str]:
    """Where a device's chat_update goes: every channel a console may watch it on."""
    pk, device = update["device_pk"], update["device"]
    if pk is None:
        return [CHAT]
    if device is not None and is_mac(device):
        return [CHAT, chat_channel(pk), chat_channel(device)]
    return [CHAT, chat_channel(pk)]


def send_progress(payload: SyncProgressPayload) -> None:
    _safe(SYNC, "sync:progress", payload)


def send_done(payload: SyncDonePayload) -> None:
    _safe(SYNC, "sync:done", payload)
