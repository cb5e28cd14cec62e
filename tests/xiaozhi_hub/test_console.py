"""The console socket on the real ASGI application (Redis channel layer when available)."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from xiaozhi_hub.asgi import application
from xiaozhi_hub.broadcast import abroadcast
from xiaozhi_hub.console.protocol import (
    CLOSE_FORBIDDEN,
    CLOSE_HEARTBEAT_TIMEOUT,
    CLOSE_TOO_BIG,
    CLOSE_TOO_MANY,
    CLOSE_UNAUTHENTICATED,
)

pytestmark = pytest.mark.django_db(transaction=True)


@sync_to_async
def session_cookie(username: str | None, *, is_staff: bool = True) -> bytes:
    if username is None:
        return b""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(
        username, password="pw", is_staff=is_staff, is_superuser=is_staff
    )
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


async def staff_socket(username: str = "ops") -> WebsocketCommunicator:
    ws = communicator(await session_cookie(username))
    connected, _ = await ws.connect()
    assert connected
    hello = await ws.receive_json_from(timeout=5)
    assert hello["type"] == "hello" and hello["payload"]["user"] == username
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


# --- The console protocol (issue: live console) ------------------------------------------

services = pytest.mark.requires_services("mysql", "redis")


@pytest.fixture
def console_settings(settings):
    """Known limits, a report secret, and an empty connection registry for each test."""
    import redis

    from tests.console.helpers import REPORT_SECRET
    from tests.services import REDIS_URL
    from xiaozhi_hub.console.limits import connections, registry_key

    settings.HUB_REPORT_SECRET = REPORT_SECRET
    settings.HUB_CONSOLE_MAX_SUBSCRIBERS = 100
    redis.Redis.from_url(REDIS_URL).delete(registry_key())
    connections.local.clear()
    return settings


@sync_to_async
def api_token(username: str, *, is_staff: bool) -> str:
    from django.contrib.auth import get_user_model

    from tests.services import api_token as new_token

    user = get_user_model().objects.create_user(
        username, password="pw", is_staff=is_staff, is_superuser=is_staff
    )
    return new_token(user)


def token_communicator(key: str, path: str = "/ws/console/") -> WebsocketCommunicator:
    headers = [
        (b"origin", b"http://localhost"),
        (b"host", b"localhost"),
        (b"authorization", f"Token {key}".encode()),
    ]
    return WebsocketCommunicator(application, path, headers=headers)


async def closed_with(ws: WebsocketCommunicator) -> dict:
    output = await ws.receive_output(timeout=5)
    while output["type"] == "websocket.send":  # frames sent before the close
        output = await ws.receive_output(timeout=5)
    return output


@services
@pytest.mark.parametrize("path", ["/ws/console/", "/ws/admin/"])
async def test_a_staff_api_token_opens_the_console_on_both_paths(console_settings, path):
    ws = token_communicator(await api_token("script", is_staff=True), path)
    connected, _ = await ws.connect()
    assert connected
    hello = await ws.receive_json_from(timeout=5)
    assert hello["type"] == "hello" and hello["payload"]["user"] == "script"
    assert hello["payload"]["heartbeat_timeout"] == console_settings.HUB_CONSOLE_HEARTBEAT_TIMEOUT
    await ws.disconnect()


@services
@pytest.mark.parametrize(
    "is_staff, key, code, reason",
    [
        (False, None, CLOSE_FORBIDDEN, "staff only"),
        (True, "not-a-real-token", CLOSE_UNAUTHENTICATED, "invalid token"),
    ],
)
async def test_tokens_of_non_staff_and_unknown_tokens_are_refused(
    console_settings, is_staff, key, code, reason
):
    real = await api_token("tokenuser", is_staff=is_staff)
    ws = token_communicator(key or real)
    connected, _ = await ws.connect()
    assert connected
    assert await closed_with(ws) == {"type": "websocket.close", "code": code, "reason": reason}


async def request(ws: WebsocketCommunicator, frame: dict) -> dict:
    await ws.send_json_to(frame)
    return await ws.receive_json_from(timeout=10)


async def subscribe(ws: WebsocketCommunicator, channel: str, request_id: str) -> dict:
    """Subscribe; check the ok answer; return the snapshot that follows it."""
    answer = await request(
        ws, {"id": request_id, "type": "subscribe", "payload": {"channel": channel}}
    )
    assert answer == {
        "id": request_id,
        "channel": channel,
        "type": "ok",
        "payload": {"channel": channel},
    }
    snapshot = await ws.receive_json_from(timeout=10)
    assert snapshot["id"] is None and snapshot["channel"] == channel
    return snapshot


@sync_to_async
def create_endpoint(name: str) -> int:
    from endpoints.services.endpoint import endpoint_create

    url = "wss://api.xiaozhi.me/mcp/?token=eyJhbGciOiJIUzI1NiJ9.c2VjcmV0LXRva2Vu.sig"
    return endpoint_create(name=name, url=url, enabled=False).pk


@services
async def test_subscribe_answers_ok_then_a_snapshot_of_each_channel(console_settings):
    from tests.console.helpers import ingest

    endpoint_id = await create_endpoint("cloud-1")
    await sync_to_async(ingest)("aa:bb:cc:00:00:01", "你好，小智 👋", session="sess-a")
    ws = await staff_socket()

    health = await subscribe(ws, "health", "s1")
    assert health["type"] == "health:snapshot" and health["payload"]["available"]
    assert "serverTime" in health["payload"]  # the endpoint family is camelCase
    (endpoint,) = [e for e in health["payload"]["endpoints"] if e["id"] == endpoint_id]
    assert endpoint["name"] == "cloud-1" and "c2VjcmV0LXRva2Vu" not in json.dumps(endpoint)

    sync = await subscribe(ws, "sync", "s2")
    assert sync["type"] == "sync:snapshot" and sync["payload"]["available"]
    assert "server_time" in sync["payload"]  # the chat and sync families are snake_case
    assert sync["payload"]["status"]["messages"] >= 1

    chat = await subscribe(ws, "chat:aa:bb:cc:00:00:01", "s3")
    assert chat["type"] == "chat:snapshot"
    assert [m["content"] for m in chat["payload"]["messages"]] == ["你好，小智 👋"]
    assert chat["payload"]["messages"][0]["session_id"] == "sess-a"
    assert "server_time" in chat["payload"]

    everything = await subscribe(ws, "chat", "s4")
    assert "你好，小智 👋" in [m["content"] for m in everything["payload"]["messages"]]

    unknown = await request(
        ws, {"id": "s5", "type": "subscribe", "payload": {"channel": "chat:999999999"}}
    )
    assert unknown["id"] == "s5" and unknown["type"] == "error"
    assert "unknown device" in unknown["payload"]["reason"]
    await ws.disconnect()


@services
async def test_deltas_reach_only_sockets_subscribed_to_their_channel(console_settings):
    from tests.console.helpers import ingest

    await sync_to_async(ingest)("aa:bb:cc:00:00:0a", "first", session="s")
    await sync_to_async(ingest)("aa:bb:cc:00:00:0b", "first", session="s")
    device_a, device_b = await staff_socket("a"), await staff_socket("b")
    await subscribe(device_a, "chat:aa:bb:cc:00:00:0a", "a1")
    await subscribe(device_b, "chat:aa:bb:cc:00:00:0b", "b1")
    await subscribe(device_b, "health", "b2")

    await sync_to_async(ingest)("aa:bb:cc:00:00:0a", "只给 A 的消息", session="s")
    update = await device_a.receive_json_from(timeout=10)
    assert update["type"] == "chat_update" and update["channel"] == "chat:aa:bb:cc:00:00:0a"
    assert update["payload"]["device"] == "aa:bb:cc:00:00:0a"
    assert [m["content"] for m in update["payload"]["messages"]] == ["只给 A 的消息"]
    assert await device_b.receive_nothing(timeout=0.5)

    status = {"id": 7, "name": "x", "state": "connected"}
    await abroadcast("health", "endpoint_health", {"endpoint": status})
    assert (await device_b.receive_json_from(timeout=5))["payload"] == {"endpoint": status}
    assert await device_a.receive_nothing(timeout=0.5)

    answer = await request(
        device_b, {"id": "b3", "type": "unsubscribe", "payload": {"channel": "health"}}
    )
    assert answer["type"] == "ok" and answer["id"] == "b3"
    await abroadcast("health", "endpoint_health", {"endpoint": status})
    assert await device_b.receive_nothing(timeout=0.5)
    await device_a.disconnect()
    await device_b.disconnect()


@services
async def test_requests_get_exactly_one_answer_with_their_id(console_settings):
    endpoint_id = await create_endpoint("cloud-2")
    ws = await staff_socket()

    started = await request(ws, {"id": "q1", "type": "sync:start", "payload": {"full": True}})
    assert started["id"] == "q1" and started["type"] == "ok"
    assert started["payload"]["full"] is True and "queued" in started["payload"]

    # The earlier design's per-chat shape: a session id, or a device's MAC.
    legacy = await request(ws, {"id": "q2", "type": "sync:start", "payload": {"chatId": "sess-9"}})
    assert legacy["type"] == "ok" and legacy["payload"]["session_id"] == "sess-9"
    by_mac = {"chatId": "AA:BB:CC:DD:EE:FF"}
    legacy = await request(ws, {"id": "q3", "type": "sync:start", "payload": by_mac})
    assert legacy["type"] == "ok" and legacy["payload"]["device"] == "AA:BB:CC:DD:EE:FF"

    # The endpoint family is camelCase; the earlier `endpoint_id` is still read.
    for request_id, reconnect in (
        ("q4", {"endpointId": endpoint_id}),
        ("q4b", {"endpoint_id": endpoint_id}),
    ):
        answer = await request(
            ws, {"id": request_id, "type": "endpoint:reconnect", "payload": reconnect}
        )
        # No pool runs here: the answer says nothing redialled it (never "reconnecting").
        assert answer["id"] == request_id and answer["type"] == "error", answer
        assert "pool" in answer["payload"]["reason"], answer
    for number, kind in enumerate(("endpoint:reconnect", "endpoint:check"), start=5):
        unknown = {"endpointId": 999999}
        answer = await request(ws, {"id": f"q{number}", "type": kind, "payload": unknown})
        assert answer["id"] == f"q{number}" and answer["type"] == "error"
        assert answer["payload"]["reason"] == "unknown endpoint 999999"
    bad = await request(ws, {"id": "q7", "type": "endpoint:reconnect", "payload": {}})
    assert bad["id"] == "q7" and "endpointId" in bad["payload"]["reason"]
    assert await ws.receive_nothing(timeout=0.3)
    await ws.disconnect()


@services
@pytest.mark.parametrize(
    "frame, reason",
    [
        ({"id": 5, "type": "heartbeat"}, '"id" must be a string'),
        ({"id": "p", "type": "subscribe", "payload": []}, '"payload" must be an object'),
        ({"id": "p", "type": "subscribe", "payload": {}}, 'subscribe needs payload {"channel"'),
        ({"id": "p", "type": "subscribe", "payload": {"channel": "secrets"}}, "unknown channel"),
        ({"id": "p", "type": "sync:start", "payload": {"full": "yes"}}, '"full" must be'),
        ({"id": "p", "type": "sync:start", "payload": {"chatId": 3}}, '"chatId" must be'),
    ],
)
async def test_frames_with_bad_fields_get_an_error_and_the_socket_stays_open(
    console_settings, frame, reason
):
    ws = await staff_socket()
    error = await request(ws, frame)
    assert error["type"] == "error" and reason in error["payload"]["reason"]
    assert error["id"] == (frame["id"] if isinstance(frame["id"], str) else None)
    assert (await request(ws, {"id": "after", "type": "heartbeat"}))["id"] == "after"
    await ws.disconnect()


@services
async def test_a_silent_client_gets_heartbeats_and_is_then_closed(console_settings):
    console_settings.HUB_CONSOLE_HEARTBEAT_INTERVAL = 1
    console_settings.HUB_CONSOLE_HEARTBEAT_TIMEOUT = 2
    ws = await staff_socket()
    beat = await ws.receive_json_from(timeout=3)
    assert beat["type"] == "heartbeat" and beat["id"] is None
    assert await closed_with(ws) == {
        "type": "websocket.close",
        "code": CLOSE_HEARTBEAT_TIMEOUT,
        "reason": "heartbeat timeout",
    }
    await ws.disconnect()


@services
async def test_subscriber_limit_refuses_the_next_socket_and_frees_slots(console_settings):
    console_settings.HUB_CONSOLE_MAX_SUBSCRIBERS = 2
    first, second = await staff_socket("first"), await staff_socket("second")
    third = communicator(await session_cookie("third"))
    assert (await third.connect())[0]
    assert await closed_with(third) == {
        "type": "websocket.close",
        "code": CLOSE_TOO_MANY,
        "reason": "too many subscribers",
    }
    await third.disconnect()
    await first.disconnect()
    fourth = await staff_socket("fourth")  # the freed slot is usable again
    await fourth.disconnect()
    await second.disconnect()


@services
async def test_an_oversized_frame_closes_with_4413(console_settings):
    console_settings.HUB_CONSOLE_MAX_FRAME_BYTES = 256
    ws = await staff_socket()
    await ws.send_to(text_data=json.dumps({"type": "heartbeat", "payload": {"x": "汉" * 100}}))
    assert await closed_with(ws) == {
        "type": "websocket.close",
        "code": CLOSE_TOO_BIG,
        "reason": "frame too large",
    }
    await ws.disconnect()


@services
async def test_frames_over_the_rate_get_errors_not_a_close(console_settings):
    console_settings.HUB_CONSOLE_RATE = 1
    console_settings.HUB_CONSOLE_BURST = 3
    ws = await staff_socket()
    for number in range(5):
        await ws.send_json_to({"id": f"r{number}", "type": "heartbeat"})
    replies = [await ws.receive_json_from(timeout=5) for _ in range(5)]
    assert [r["type"] for r in replies] == ["heartbeat"] * 3 + ["error"] * 2
    assert [r["id"] for r in replies] == [f"r{n}" for n in range(5)]
    assert "rate limit" in replies[-1]["payload"]["reason"]
    await asyncio.sleep(1.1)  # a token comes back: the socket works again
    assert (await request(ws, {"id": "later", "type": "heartbeat"}))["type"] == "heartbeat"
    await ws.disconnect()


@services
async def test_the_subscriber_limit_counts_connections_of_other_processes(console_settings):
    import time

    import redis

    from tests.services import REDIS_URL
    from xiaozhi_hub.console.limits import registry_key

    console_settings.HUB_CONSOLE_MAX_SUBSCRIBERS = 1
    shared = redis.Redis.from_url(REDIS_URL)
    # Another web process's open socket, as it registers itself in Redis.
    shared.zadd(registry_key(), {"ws.other-process": time.time() + 60})
    refused = communicator(await session_cookie("late"))
    assert (await refused.connect())[0]
    assert (await closed_with(refused))["code"] == CLOSE_TOO_MANY
    await refused.disconnect()
    # A crashed process stops refreshing its entries: they expire and free the slot.
    shared.zadd(registry_key(), {"ws.other-process": time.time() - 1})
    accepted = await staff_socket("next")
    await accepted.disconnect()
