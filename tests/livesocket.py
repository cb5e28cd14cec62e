"""A console WebSocket client for tests against real server processes."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect


async def open_console(port: int, session_id: str | None) -> ClientConnection:
    headers = {"Cookie": f"sessionid={session_id}"} if session_id else {}
    return await connect(
        f"ws://127.0.0.1:{port}/ws/console/",
        origin=f"http://127.0.0.1:{port}",
        additional_headers=headers,
        open_timeout=10,
    )


async def next_frame(ws: ClientConnection, *, type: str, timeout: float, **payload: Any) -> dict:
    """Read frames until one of `type` whose payload has the given items arrives."""
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == type and payload.items() <= frame["payload"].items():
                return frame


def staff_session_id(username: str = "operator") -> str:
    """A committed staff user and session, usable by a server in another process."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    user = get_user_model().objects.create_user(
        username, password="pw", is_staff=True, is_superuser=True
    )
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value
