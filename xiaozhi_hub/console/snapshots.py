"""Snapshots: the current state of a channel, the first frame after a subscribe.

Each payload is in its family's casing (docs/console.md, "Casing"): `health`
belongs to the endpoint family (camelCase), `sync` and `chat` to the chat
family (snake_case).

`available` and `detail` date from when an app could be missing; the console
now imports both apps, so they are always true and "" (a snapshot that cannot
be read is an `error` answer to the subscribe instead). They stay on the wire
because clients read them.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async

from xiaozhi_hub.alerts.events import ALERTS
from xiaozhi_hub.broadcast import HEALTH, SYNC, ConsoleFrame, make_frame, now_iso

from . import data
from . import protocol as p

_COMPLETE = {"available": True, "detail": ""}


def health_snapshot() -> dict[str, Any]:
    return {
        **_COMPLETE,
        "endpoints": data.endpoint_statuses(),
        "servers": data.mcp_server_statuses(),  # upstream MCP servers: state, tools, error
        "history": data.health_history(),  # heartbeat bars and uptime (health_bucket: live)
        "serverTime": now_iso(),
    }


def sync_snapshot() -> dict[str, Any]:
    return {
        **_COMPLETE,
        "status": data.sync_status(),
        "runs": data.sync_runs(limit=10),
        "server_time": now_iso(),
    }


def chat_snapshot(*, device: int | str | None) -> dict[str, Any]:
    """Raises data.UnknownObject for an unknown device: an error answer, not an empty chat.

    `device` is what the channel names: a primary key, or a MAC (the older spelling).
    """
    found = None if device is None else data.device_detail(device=device)
    return {
        **_COMPLETE,
        "device": found["mac"] if found else None,
        "device_pk": found["id"] if found else None,
        "messages": data.recent_messages(device=device),
        "server_time": now_iso(),
    }


def alerts_snapshot() -> dict[str, Any]:
    """Firing alerts and those resolved in the last 24 hours (snake_case, like chat)."""
    return {"alerts": data.alerts_snapshot(), "server_time": now_iso()}


async def snapshot_frame(channel: str) -> ConsoleFrame:
    """The snapshot frame of a subscribable channel (protocol.subscribable)."""
    if channel == HEALTH:
        kind, payload = "health:snapshot", await database_sync_to_async(health_snapshot)()
    elif channel == SYNC:
        kind, payload = "sync:snapshot", await database_sync_to_async(sync_snapshot)()
    elif channel == ALERTS:
        kind, payload = "alerts:snapshot", await database_sync_to_async(alerts_snapshot)()
    else:
        device = p.chat_device(channel)
        kind, payload = "chat:snapshot", await database_sync_to_async(chat_snapshot)(device=device)
    return make_frame(channel=channel, type=kind, payload=payload)
