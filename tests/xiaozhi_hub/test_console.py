"""The console socket on the real ASGI application (Redis channel layer when available)."""

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from xiaozhi_hub.asgi import application
from xiaozhi_hub.broadcast import abroadcast
from xiaozhi_hub.consumers import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED

pytestmark = pytest.mark.django_db(transaction=True)


@sync_to_async
def session_cookie(username: str | None, *, is_staff: bool = True) -> bytes:
    if username is None:
        return b""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(username, password="pw", is_staff=is_staff)
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


def communicator(cookie: bytes = b"", origin: bytes = b"http://localhost") -> WebsocketCommunicator:
    headers = [(b"origin", origin), (b"host", b"localhost")]
    if cookie:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(application, "/ws/console/", headers=headers)


@pytest.mark.parametrize(
    "username, is_staff, code, reason",
    [
        (None, False, CLOSE_UNAUTHENTICATED, "login required"),
        ("visitor", False, CLOSE_FORBIDDEN, "staff only"),
    ],
)
async def test_non_staff_are_closed_with_a_clear_code(username, is_staff, code, reason):
    ws = communicator(await session_cookie(username, is_staff=is_staff))
    connected, _ = await ws.connect()
    assert connected
    closed = await ws.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": code, "reason": reason}
    await ws.wait()


async def test_foreign_origin_is_refused():
    ws = communicator(await session_cookie("ops"), origin=b"http://evil.example")
    connected, _ = await ws.connect()
    assert not connected


async def staff_socket() -> WebsocketCommunicator:
    ws = communicator(await session_cookie("ops"))
    connected, _ = await ws.connect()
    assert connected
    hello = await ws.receive_json_from(timeout=5)
    assert hello["type"] == "hello" and hello["payload"]["user"] == "ops"
    return ws


async def test_staff_heartbeat_is_answered_with_the_request_id():
    ws = await staff_socket()
    await ws.send_json_to({"id": "hb-1", "type": "heartbeat"})
    reply = await ws.receive_json_from(timeout=5)
    assert reply["id"] == "hb-1" and reply["type"] == "heartbeat" and reply["channel"] == "system"
    assert "server_time" in reply["payload"]
    await ws.disconnect()


@pytest.mark.parametrize(
    "frame, reason",
    [
        ({"text_data": "{not json"}, "invalid JSON"),
        ({"text_data": "[1, 2]"}, 'a frame is an object with a "type" string'),
        ({"bytes_data": b"\x00\x01"}, "frames must be JSON text"),
        ({"text_data": '{"id": "x7", "type": "launch"}'}, "unknown frame type 'launch'"),
    ],
)
async def test_invalid_frames_get_an_error_frame_and_the_socket_stays_open(frame, reason):
    ws = await staff_socket()
    await ws.send_to(**frame)
    error = await ws.receive_json_from(timeout=5)
    assert error["type"] == "error" and reason in error["payload"]["reason"]
    if "x7" in frame.get("text_data", ""):
        assert error["id"] == "x7"
    await ws.send_json_to({"type": "heartbeat"})
    assert (await ws.receive_json_from(timeout=5))["type"] == "heartbeat"
    await ws.disconnect()


@pytest.mark.requires_services("redis")
async def test_broadcast_reaches_console_sockets_through_redis():
    ws = await staff_socket()
    await abroadcast("system", "hub_probe", {"nonce": "n-1", "worker": "test", "sent_at": "now"})
    frame = await ws.receive_json_from(timeout=5)
    assert frame == {
        "id": None,
        "channel": "system",
        "type": "hub_probe",
        "payload": {"nonce": "n-1", "worker": "test", "sent_at": "now"},
    }
    # A channel this socket has not joined delivers nothing.
    await abroadcast("health", "hub_status", {"worker": "test", "pid": 1, "sent_at": "now"})
    assert await ws.receive_nothing(timeout=0.3)
    await ws.disconnect()
