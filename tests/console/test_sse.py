"""The SSE fallback and its request endpoint, on the real ASGI application."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import ApplicationCommunicator
from django.test import Client

from tests.console.helpers import REPORT_SECRET, ingest
from xiaozhi_hub.asgi import application
from xiaozhi_hub.console.limits import connections

pytestmark = [
    pytest.mark.requires_services("mysql", "redis"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(autouse=True)
def report_secret(settings):
    settings.HUB_REPORT_SECRET = REPORT_SECRET
    connections.local.clear()


@sync_to_async
def staff_client(username: str = "ops", *, is_staff: bool = True) -> Client:
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(
        username, password="pw", is_staff=is_staff, is_superuser=is_staff
    )
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def stream(query: str, cookie: str, *headers: tuple[bytes, bytes]) -> ApplicationCommunicator:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/console/events",
        "raw_path": b"/console/events",
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"localhost"), (b"cookie", cookie.encode()), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("localhost", 80),
    }
    return ApplicationCommunicator(application, scope)


class Events:
    """Reads `data:` frames from a streaming response, chunk by chunk."""

    def __init__(self, app: ApplicationCommunicator):
        self.app = app
        self.buffer = ""

    async def start(self) -> dict:
        await self.app.send_input({"type": "http.request", "body": b""})
        return await self.app.receive_output(timeout=10)

    async def next(self, timeout: float = 10) -> dict:
        async with asyncio.timeout(timeout):
            while True:
                while "\n\n" in self.buffer:
                    block, self.buffer = self.buffer.split("\n\n", 1)
                    data = [line[6:] for line in block.splitlines() if line.startswith("data: ")]
                    if data:
                        return json.loads("\n".join(data))
                message = await self.app.receive_output(timeout=timeout)
                self.buffer += message.get("body", b"").decode()


async def test_sse_stream_sends_snapshots_then_deltas_and_cleans_up_on_disconnect():
    await sync_to_async(ingest)("aa:bb:cc:00:00:51", "流式 ✓", session="s")
    client = await staff_client()
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    app = stream("channels=sync,chat:aa:bb:cc:00:00:51", cookie)
    events = Events(app)
    start = await events.start()
    assert start["status"] == 200
    assert (b"Content-Type", b"text/event-stream; charset=utf-8") in start["headers"]
    assert (await events.next())["type"] == "hello"
    assert [(await events.next())["type"] for _ in range(4)] == [
        "ok",
        "sync:snapshot",
        "ok",
        "chat:snapshot",
    ]
    assert len(connections.local) == 1

    await sync_to_async(ingest)("aa:bb:cc:00:00:51", "新消息 🎉", session="s")
    update = await events.next()
    assert update["type"] == "chat_update" and update["channel"] == "chat:aa:bb:cc:00:00:51"
    assert update["payload"]["messages"][0]["content"] == "新消息 🎉"

    await app.send_input({"type": "http.disconnect"})
    await app.wait(timeout=10)
    assert connections.local == set()  # the stream released its slot and left its groups


@pytest.mark.parametrize(
    "query, status, reason",
    [("channels=health,nope", 400, "unknown channel 'nope'"), ("channels=sync", 401, "login")],
)
async def test_sse_refuses_bad_channels_and_anonymous_users(query, status, reason):
    cookie = ""
    if status == 400:
        client = await staff_client()
        cookie = f"sessionid={client.cookies['sessionid'].value}"
    app = stream(query, cookie)
    start = await Events(app).start()
    assert start["status"] == status
    body = json.loads((await app.receive_output(timeout=5))["body"])
    assert body["type"] == "error" and reason in body["payload"]["reason"]


def test_request_endpoint_answers_like_the_socket(django_user_model):
    from tests.services import api_token

    staff = django_user_model.objects.create_user(
        "api", password="pw", is_staff=True, is_superuser=True
    )
    headers = {"HTTP_AUTHORIZATION": f"Token {api_token(staff)}"}
    client = Client()

    def post(frame):
        body = frame if isinstance(frame, str) else json.dumps(frame)
        return client.post("/console/request", body, content_type="application/json", **headers)

    answer = post({"id": "h1", "type": "sync:start", "payload": {"chatId": "sess-1"}})
    assert answer.status_code == 200
    assert answer.json()["id"] == "h1" and answer.json()["payload"]["session_id"] == "sess-1"
    missing = post({"id": "h2", "type": "endpoint:check", "payload": {"endpointId": 424242}})
    assert missing.status_code == 400
    assert missing.json()["payload"]["reason"] == "unknown endpoint 424242"
    assert post("{oops").json()["type"] == "error"
    subscribe = post({"id": "h3", "type": "subscribe", "payload": {"channel": "sync"}})
    assert "/console/events?channels=" in subscribe.json()["payload"]["reason"]

    visitor = django_user_model.objects.create_user("visitor", password="pw")
    anonymous = Client().post("/console/request", "{}", content_type="application/json")
    client.force_login(visitor)
    assert anonymous.status_code in (401, 403)
    not_staff = client.post("/console/request", "{}", content_type="application/json")
    assert not_staff.status_code == 403


def test_request_endpoint_with_a_session_needs_the_csrf_token(admin_client):
    frame = json.dumps({"id": "c1", "type": "heartbeat"})
    admin_client.handler.enforce_csrf_checks = True
    refused = admin_client.post("/console/request", frame, content_type="application/json")
    assert refused.status_code == 403
    admin_client.get("/console/")  # sets the csrftoken cookie
    token = admin_client.cookies["csrftoken"].value
    answer = admin_client.post(
        "/console/request", frame, content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert answer.status_code == 200 and answer.json()["type"] == "heartbeat"


async def test_sse_accepts_a_staff_api_token_header():
    from django.contrib.auth import get_user_model

    from tests.services import api_token

    client = await staff_client("script")
    user = await sync_to_async(lambda: client.session["_auth_user_id"])()
    key = await sync_to_async(lambda: api_token(get_user_model().objects.get(pk=user)))()
    app = stream("channels=health", "", (b"authorization", f"Token {key}".encode()))
    events = Events(app)
    assert (await events.start())["status"] == 200
    hello = await events.next()
    assert hello["type"] == "hello" and hello["payload"]["user"] == "script"
    assert hello["payload"]["transport"] == "sse"
    assert [(await events.next())["type"] for _ in range(2)] == ["ok", "health:snapshot"]
    await app.send_input({"type": "http.disconnect"})
    await app.wait(timeout=10)
