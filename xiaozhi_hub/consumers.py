"""The console WebSocket (/ws/console/): staff only, JSON frames of REFERENCE.md §3."""

from __future__ import annotations

import json
from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from .broadcast import group_name, make_frame, now_iso

# Close codes in the 4000-4999 range left for applications (documented in README).
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403

SYSTEM_CHANNEL = "system"


class ConsoleConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        # Accept first, then close: a close before the handshake completes
        # reaches browsers as a bare HTTP 403 without our code and reason.
        await self.accept()
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED, reason="login required")
            return
        if not user.is_staff:
            await self.close(code=CLOSE_FORBIDDEN, reason="staff only")
            return
        self.joined = [group_name(SYSTEM_CHANNEL)]
        for group in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.send_json(
            make_frame(
                channel=SYSTEM_CHANNEL,
                type="hello",
                payload={"user": user.get_username(), "server_time": now_iso()},
            )
        )

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        # Bad input gets an error frame; it never closes the socket.
        if text_data is None:
            await self._error(None, "frames must be JSON text, not binary")
            return
        try:
            content = json.loads(text_data)
        except ValueError as exc:
            await self._error(None, f"invalid JSON: {exc}")
            return
        if not isinstance(content, dict) or not isinstance(content.get("type"), str):
            await self._error(None, 'a frame is an object with a "type" string')
            return
        await self.receive_json(content)

    async def receive_json(self, content: dict[str, Any], **kwargs) -> None:
        request_id = content.get("id") if isinstance(content.get("id"), str) else None
        if content["type"] == "heartbeat":
            await self.send_json(
                make_frame(
                    id=request_id,
                    channel=SYSTEM_CHANNEL,
                    type="heartbeat",
                    payload={"server_time": now_iso()},
                )
            )
        else:
            await self._error(request_id, f"unknown frame type {content['type']!r}")

    async def console_event(self, message: dict[str, Any]) -> None:
        """A frame from the broadcast helper (layer message type `console.event`)."""
        await self.send_json(message["frame"])

    async def _error(self, request_id: str | None, reason: str) -> None:
        await self.send_json(
            make_frame(
                id=request_id,
                channel=SYSTEM_CHANNEL,
                type="error",
                payload={"reason": reason},
            )
        )
