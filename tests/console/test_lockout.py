"""The console cannot be locked out (issue 13, item 4).

Every console connection holds a slot in the subscriber registry (a Redis
sorted set, HUB_CONSOLE_MAX_SUBSCRIBERS at most). A connection that ended
without giving its slot back, while its heartbeat task kept renewing it, used
to add up: about a hundred crashed sockets refused every operator with 4429
until daphne restarted. Here connections end in every hostile way on a real
daphne, and the registry must hold nothing afterwards.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter

import pytest
import redis
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from websockets.exceptions import ConnectionClosed

from tests.livesocket import next_frame, open_console
from tests.services import (
    REDIS_URL,
    bin_path,
    documented_commands,
    hub_database_url,
    hub_env,
    start_listening,
    stop,
)
from xiaozhi_hub.asgi import application
from xiaozhi_hub.console.limits import connections, registry_key
from xiaozhi_hub.console.protocol import CLOSE_HEARTBEAT_TIMEOUT, CLOSE_TOO_BIG

pytestmark = [
    pytest.mark.requires_services("mysql", "redis"),
    pytest.mark.django_db(transaction=True),
]

MAX_FRAME_BYTES = 4096
NESTED = "[" * 3000  # under the frame limit, and past Python's recursion limit in json.loads


def superuser_session_id(username: str) -> str:
    from django.contrib.auth import get_user_model
    from django.test import Client

    user = get_user_model().objects.create_user(
        username, password="pw", is_staff=True, is_superuser=True
    )
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def registry_members() -> list[bytes]:
    return redis.Redis.from_url(REDIS_URL).zrange(registry_key(), 0, -1)


async def wait_for_empty_registry(timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while registry_members() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert registry_members() == [], "connections that ended still hold registry slots"


@pytest.fixture
def registry():
    redis.Redis.from_url(REDIS_URL).delete(registry_key())
    connections.local.clear()
    yield
    redis.Redis.from_url(REDIS_URL).delete(registry_key())


@pytest.fixture
def daphne(registry, process_log_dir, settings):
    """The README's daphne command on loopback, with the console limits at their defaults."""
    env = hub_env(
        DATABASE_URL=hub_database_url(),
        REDIS_URL=REDIS_URL,
        HUB_CHANNEL_PREFIX=settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
        ALLOWED_HOSTS="127.0.0.1",
        HUB_CONSOLE_MAX_SUBSCRIBERS="100",
        HUB_CONSOLE_MAX_FRAME_BYTES=str(MAX_FRAME_BYTES),
        HUB_CONSOLE_HEARTBEAT_INTERVAL="1",  # a leaked slot would be renewed every second
    )

    def command(port: int) -> list[str]:
        args = documented_commands()["daphne"].replace(
            "-b 0.0.0.0 -p 8000", f"-b 127.0.0.1 -p {port}"
        )
        return [bin_path("daphne"), *args.split()[1:]]

    process, port = start_listening(command, env, process_log_dir / "daphne.log")
    yield port
    stop(process)


def close_code(closed: ConnectionClosed) -> int:
    return closed.rcvd.code if closed.rcvd else 1006  # 1006: no close frame at all


async def oversized(port: int, session_id: str) -> str:
    """Send a frame over the limit; how the connection ended."""
    try:
        ws = await open_console(port, session_id)
        await next_frame(ws, type="hello", timeout=10)
        await ws.send(json.dumps({"type": "heartbeat", "payload": {"x": "x" * MAX_FRAME_BYTES}}))
        await next_frame(ws, type="never", timeout=10)
    except ConnectionClosed as closed:
        return f"closed {close_code(closed)}"
    return "still open"


async def nested(port: int, session_id: str) -> str:
    """Send a deeply nested frame (it used to raise RecursionError); what came back."""
    try:
        ws = await open_console(port, session_id)
        await next_frame(ws, type="hello", timeout=10)
        await ws.send(NESTED)
        await next_frame(ws, type="error", timeout=10)
        await ws.send(json.dumps({"id": "after", "type": "heartbeat"}))
        await next_frame(ws, type="heartbeat", timeout=10)
    except ConnectionClosed as closed:
        return f"closed {close_code(closed)}"
    await ws.close()
    return "answered"


async def vanished(port: int, session_id: str) -> None:
    """A client whose TCP connection drops without a close handshake."""
    ws = await open_console(port, session_id)
    await next_frame(ws, type="hello", timeout=10)
    ws.transport.abort()


async def dropped_sse_stream(port: int, session_id: str) -> None:
    """An SSE stream whose client goes away after the hello."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET /console/events?channels=health HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Cookie: sessionid={session_id}\r\n\r\n".encode()
    )
    async with asyncio.timeout(10):
        while b'"hello"' not in await reader.readline():
            pass
    writer.transport.abort()


async def test_crashing_connections_do_not_lock_operators_out(daphne):
    port = daphne
    attacker = await sync_to_async(superuser_session_id)("attacker")
    operator = await sync_to_async(superuser_session_id)("operator")

    outcomes = {"oversized": Counter(), "nested": Counter()}
    for batch in range(15):  # 150 connections, 10 at a time (the limit is 100)
        results = await asyncio.gather(
            *(oversized(port, attacker) for _ in range(7)),
            *(nested(port, attacker) for _ in range(3)),
        )
        outcomes["oversized"].update(results[:7])
        outcomes["nested"].update(results[7:])
        if batch % 5 == 0:
            await asyncio.gather(
                *(vanished(port, attacker) for _ in range(3)),
                *(dropped_sse_stream(port, attacker) for _ in range(2)),
            )

    await wait_for_empty_registry()
    await asyncio.sleep(2.5)  # past two heartbeat intervals: nothing renews a released slot
    assert registry_members() == []
    # A valid application close code (daphne refused 1009 and the client saw
    # 1011), and a nested frame is answered on a connection that stays usable.
    assert outcomes == {
        "oversized": Counter({f"closed {CLOSE_TOO_BIG}": 105}),
        "nested": Counter({"answered": 45}),
    }

    ws = await open_console(port, operator)
    hello = await next_frame(ws, type="hello", timeout=10)
    assert hello["payload"]["user"] == "operator"
    await ws.send(json.dumps({"id": "hb", "type": "heartbeat"}))
    assert (await next_frame(ws, type="heartbeat", timeout=10))["id"] == "hb"
    assert len(registry_members()) == 1
    await ws.close()
    await wait_for_empty_registry()


# --- Ends the daphne test above cannot force, on the ASGI application in-process ---------


@pytest.fixture
def console_settings(registry, settings):
    settings.HUB_CONSOLE_MAX_SUBSCRIBERS = 100
    return settings


async def superuser_socket() -> WebsocketCommunicator:
    session_id = await sync_to_async(superuser_session_id)("ops")
    ws = WebsocketCommunicator(
        application,
        "/ws/console/",
        headers=[
            (b"origin", b"http://localhost"),
            (b"host", b"localhost"),
            (b"cookie", f"sessionid={session_id}".encode()),
        ],
    )
    connected, _ = await ws.connect()
    assert connected
    assert (await ws.receive_json_from(timeout=5))["type"] == "hello"
    return ws


def heartbeat_tasks() -> list[asyncio.Task]:
    return [
        task
        for task in asyncio.all_tasks()
        if not task.done() and task.get_coro().__qualname__ == "ConsoleConsumer._heartbeat"
    ]


async def test_a_cancelled_connection_stops_its_heartbeat_and_frees_its_slot(console_settings):
    # daphne cancels an application instance that outlives its client by
    # application_close_timeout; no disconnect() runs then.
    ws = await superuser_socket()
    assert len(registry_members()) == 1 and len(heartbeat_tasks()) == 1
    ws.future.cancel()
    with pytest.raises(asyncio.CancelledError):
        await ws.future
    assert heartbeat_tasks() == []
    assert connections.local == set() and registry_members() == []


async def test_a_failure_while_handling_a_frame_keeps_the_connection(console_settings, monkeypatch):
    from xiaozhi_hub.console import protocol

    parse_frame = protocol.parse_frame

    def failing(text):
        if text == "boom":
            raise RuntimeError("a bug in the frame handling")
        return parse_frame(text)

    monkeypatch.setattr(protocol, "parse_frame", failing)
    ws = await superuser_socket()
    await ws.send_to(text_data="boom")
    error = await ws.receive_json_from(timeout=5)
    assert error["type"] == "error" and "could not handle" in error["payload"]["reason"]
    await ws.send_json_to({"id": "after", "type": "heartbeat"})
    assert (await ws.receive_json_from(timeout=5))["id"] == "after"
    await ws.disconnect()
    assert registry_members() == [] and heartbeat_tasks() == []


async def test_a_heartbeat_timeout_frees_the_slot(console_settings):
    console_settings.HUB_CONSOLE_HEARTBEAT_INTERVAL = 1
    console_settings.HUB_CONSOLE_HEARTBEAT_TIMEOUT = 2
    ws = await superuser_socket()
    output = await ws.receive_output(timeout=5)
    while output["type"] == "websocket.send":
        output = await ws.receive_output(timeout=5)
    assert output["code"] == CLOSE_HEARTBEAT_TIMEOUT
    # Released by the server's own close, before the client acknowledged it.
    await wait_for_empty_registry(timeout=2)
    assert heartbeat_tasks() == []
    await ws.disconnect()
