"""The console protocol (docs/console.md): frame parsing, channel names, close codes.

Pure functions, shared by the WebSocket consumer and the SSE fallback, so
both transports accept and refuse exactly the same frames.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from xiaozhi_hub.alerts.events import ALERTS
from xiaozhi_hub.broadcast import CHAT, HEALTH, SYNC, SYSTEM, make_frame
from xiaozhi_hub.jsonlimits import JsonInputError, loads_limited

# Close codes (documented in docs/console.md). 4000-4999 belong to applications.
CLOSE_UNAUTHENTICATED = 4401  # no session / token
CLOSE_FORBIDDEN = 4403  # logged in, not staff
CLOSE_HEARTBEAT_TIMEOUT = 4408  # the client said nothing for HUB_CONSOLE_HEARTBEAT_TIMEOUT
CLOSE_TOO_MANY = 4429  # HUB_CONSOLE_MAX_SUBSCRIBERS connections are already open
# A frame over HUB_CONSOLE_MAX_FRAME_BYTES. Not RFC 6455's 1009: daphne refuses to
# send codes below 3000 other than 1000 ("invalid close code") and the client saw 1011.
CLOSE_TOO_BIG = 4413

# Requests a client may send; everything else is answered with `error`.
SUBSCRIBE = "subscribe"
UNSUBSCRIBE = "unsubscribe"
HEARTBEAT = "heartbeat"
SYNC_START = "sync:start"
ENDPOINT_RECONNECT = "endpoint:reconnect"
ENDPOINT_CHECK = "endpoint:check"
ALERT_ACKNOWLEDGE = "alert:acknowledge"
ALERT_SILENCE = "alert:silence"
REQUEST_TYPES = frozenset(
    {
        SUBSCRIBE,
        UNSUBSCRIBE,
        HEARTBEAT,
        SYNC_START,
        ENDPOINT_RECONNECT,
        ENDPOINT_CHECK,
        ALERT_ACKNOWLEDGE,
        ALERT_SILENCE,
    }
)

# A session id: no spaces or control chars.
_SESSION = re.compile(r"^[^\s\x00-\x1f]{1,64}$")
_MAC = re.compile(r"^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$")
_SOURCE_KEY = re.compile(r"^[-a-zA-Z0-9_]{1,32}$")
# A device's chat channel names it by primary key (any identifier would not always be a
# valid name), or, the older spelling, by its MAC in the form the hub stores it.
_DEVICE_PK = re.compile(r"^[1-9][0-9]{0,17}$")
_CANONICAL_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
MAX_DEVICE_LENGTH = 50  # Device.mac
MAX_ID_LENGTH = 100


class FrameError(ValueError):
    """A frame the server refuses; the message is the `error` frame's reason."""

    def __init__(self, reason: str, request_id: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.request_id = request_id


@dataclass(frozen=True)
class Request:
    type: str
    id: str | None = None
    channel: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)


def parse_frame(text: str | None) -> Request:
    """A client frame as a Request, or FrameError with a reason for the client."""
    if text is None:
        raise FrameError("frames must be JSON text, not binary")
    try:
        # Nested too deep is an `error` frame, not RecursionError. The size is checked
        # before (the socket closes with CLOSE_TOO_BIG, /console/request answers 413).
        content = loads_limited(text, max_depth=settings.HUB_JSON_MAX_DEPTH, max_bytes=None)
    except JsonInputError as exc:
        raise FrameError(f"invalid JSON: {exc}") from None
    if not isinstance(content, dict) or not isinstance(content.get("type"), str):
        raise FrameError('a frame is an object with a "type" string')
    request_id = content.get("id")
    if request_id is not None and (
        not isinstance(request_id, str) or len(request_id) > MAX_ID_LENGTH
    ):
        raise FrameError(f'"id" must be a string of at most {MAX_ID_LENGTH} characters or null')
    channel = content.get("channel")
    if channel is not None and not isinstance(channel, str):
        raise FrameError('"channel" must be a string', request_id)
    payload = content.get("payload", {})
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise FrameError('"payload" must be an object', request_id)
    if content["type"] not in REQUEST_TYPES:
        raise FrameError(f"unknown frame type {content['type']!r}", request_id)
    return Request(type=content["type"], id=request_id, channel=channel, payload=payload)


def subscribable(channel: Any) -> str:
    """A channel a client may subscribe to, validated: health, sync, chat, chat:<device pk>
    (and chat:<mac> for a device whose identifier is a MAC), alerts."""
    if not isinstance(channel, str):
        raise FrameError('subscribe needs payload {"channel": "<name>"}')
    if channel in (HEALTH, SYNC, CHAT, ALERTS):
        return channel
    device = channel.removeprefix(CHAT + ":")
    if device != channel and (_DEVICE_PK.match(device) or _CANONICAL_MAC.match(device)):
        return channel
    raise FrameError(
        f"unknown channel {channel[:80]!r}; use health, sync, chat, chat:<device pk> or alerts"
    )


def chat_device(channel: str) -> int | str | None:
    """The device of a subscribable `chat:` channel: its pk (int), or the MAC of the older
    spelling (str); None for `chat` (all devices)."""
    if not channel.startswith(CHAT + ":"):
        return None
    device = channel.split(":", 1)[1]
    return int(device) if _DEVICE_PK.match(device) else device


def sync_arguments(payload: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for chathistory.services.sync_request from a sync:start payload.

    The chat family is snake_case (`session_id`); `sessionId` and the earlier
    design's per-chat shape {"chatId": ...} are still read for old clients: a
    MAC means that device's history, anything else one session (a chat).
    """
    full = payload.get("full", False)
    device = payload.get("device")
    session_id = payload.get("session_id", payload.get("sessionId"))
    chat_id = payload.get("chatId")
    if chat_id is not None:
        if not isinstance(chat_id, str) or not chat_id:
            raise FrameError('"chatId" must be a non-empty string')
        if _MAC.match(chat_id):
            device = device or chat_id
        else:
            session_id = session_id or chat_id
    if not isinstance(full, bool):
        raise FrameError('"full" must be true or false')
    if device is not None and (
        not isinstance(device, str) or not device.strip() or len(device) > MAX_DEVICE_LENGTH
    ):
        raise FrameError(f'"device" must be a device identifier of 1 to {MAX_DEVICE_LENGTH} chars')
    if session_id is not None and (
        not isinstance(session_id, str) or not _SESSION.match(session_id)
    ):
        raise FrameError('"session_id" must be a short string without spaces')
    source = payload.get("source")
    if source is not None and (not isinstance(source, str) or not _SOURCE_KEY.match(source)):
        raise FrameError('"source" must be a source key (letters, digits, - and _; up to 32)')
    return {"full": full, "device": device, "session_id": session_id, "source": source}


def endpoint_id(payload: dict[str, Any], *, required: bool) -> int | None:
    """The endpoint of an endpoint:* request: `endpointId`, the endpoint family's casing.

    `endpoint_id` is still read, so clients written before the casing fix keep working.
    """
    value = payload.get("endpointId", payload.get("endpoint_id"))
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise FrameError('"endpointId" must be a positive integer')
    return value


def alert_id(payload: dict[str, Any]) -> int:
    """The alert of an alert:* request: `alert_id` (snake_case, like the alerts channel)."""
    value = payload.get("alert_id")
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise FrameError('"alert_id" must be a positive integer')
    return value


def ok(request: Request, payload: dict[str, Any] | None = None, *, channel: str | None = None):
    return make_frame(
        id=request.id,
        channel=channel or request.channel or SYSTEM,
        type="ok",
        payload=payload or {},
    )


def error(request_id: str | None, reason: str, *, channel: str = SYSTEM):
    return make_frame(id=request_id, channel=channel, type="error", payload={"reason": reason})
