"""The console's permissions on both transports: a connection needs some console
permission, each channel and request its own; refusals say which, and actions
are written to the audit log."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.admin.models import LogEntry
from django.test import Client

from endpoints.models import Endpoint
from tests.access.identities import make_user, user_with
from xiaozhi_hub.asgi import application

pytestmark = [
    pytest.mark.requires_services("mysql", "redis"),
    pytest.mark.django_db(transaction=True),
]


async def socket(user) -> WebsocketCommunicator:
    client = Client()
    await sync_to_async(client.force_login)(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost"), (b"cookie", cookie)]
    ws = WebsocketCommunicator(application, "/ws/console/", headers=headers)
    connected, _ = await ws.connect(timeout=10)
    assert connected
    return ws


async def ask(ws: WebsocketCommunicator, frame: dict) -> dict:
    await ws.send_to(text_data=json.dumps(frame))
    while True:
        reply = json.loads(await ws.receive_from(timeout=15))
        if reply.get("id") == frame["id"]:
            return reply


async def test_staff_without_a_console_permission_are_closed_with_4403_and_the_reason():
    ws = await socket(await sync_to_async(make_user)("staff"))
    closed = await ws.receive_output(timeout=10)
    assert closed["type"] == "websocket.close" and closed["code"] == 4403
    assert closed["reason"] == (
        "permission denied: the console needs one of the permissions "
        "chathistory.view_chatmessage, chathistory.view_syncrun, endpoints.view_endpoint "
        "(Hub viewers have them)"
    )


async def test_each_channel_needs_its_own_permission():
    user = await sync_to_async(user_with)("endpoints.view_endpoint")
    ws = await socket(user)
    assert json.loads(await ws.receive_from(timeout=10))["type"] == "hello"
    health = await ask(ws, {"id": "1", "type": "subscribe", "payload": {"channel": "health"}})
    assert health["type"] == "ok"
    chat = await ask(ws, {"id": "2", "type": "subscribe", "payload": {"channel": "chat"}})
    assert chat["type"] == "error"
    assert chat["payload"]["reason"] == (
        "permission denied: subscribing to chat needs the permission "
        "chathistory.view_chatmessage (Hub viewers have it)"
    )
    one = await ask(ws, {"id": "3", "type": "subscribe", "payload": {"channel": "chat:7"}})
    assert one["type"] == "error" and "chathistory.view_chatmessage" in one["payload"]["reason"]
    # The refusal neither closed the socket nor joined the channel.
    assert (await ask(ws, {"id": "4", "type": "heartbeat"}))["type"] == "heartbeat"
    await ws.disconnect()


async def test_a_viewer_may_not_start_a_sync_an_operator_may_and_the_reconnect_is_audited():
    endpoint = await Endpoint.objects.acreate(name="relay", url="wss://example.org/mcp/?token=t")
    viewer = await socket(await sync_to_async(make_user)("viewer"))
    refused = await ask(viewer, {"id": "s", "type": "sync:start"})
    assert refused["type"] == "error"
    assert refused["payload"]["reason"] == (
        "permission denied: sync:start needs the permission chathistory.add_syncrun "
        "(Hub operators have it)"
    )
    await viewer.disconnect()

    operator_user = await sync_to_async(make_user)("operator")
    operator = await socket(operator_user)
    assert (await ask(operator, {"id": "s", "type": "sync:start"}))["type"] == "ok"
    frame = {"id": "r", "type": "endpoint:reconnect", "payload": {"endpointId": endpoint.pk}}
    # Allowed, and tried: no pool runs here, so the answer says why it was not done.
    tried = await ask(operator, frame)
    assert tried["type"] == "error" and "permission" not in tried["payload"]["reason"], tried
    await operator.disconnect()
    entry = await LogEntry.objects.aget(object_id=str(endpoint.pk))
    assert entry.user_id == operator_user.pk
    assert entry.change_message == "Reconnect failed via the console."


def test_sse_refuses_a_channel_without_its_permission():
    client = Client()
    client.force_login(user_with("endpoints.view_endpoint"))
    response = client.get("/console/events", {"channels": "health,sync"})
    assert response.status_code == 403
    assert response.json()["payload"]["reason"] == (
        "permission denied: subscribing to sync needs the permission chathistory.view_syncrun "
        "(Hub viewers have it)"
    )
    nobody = Client()
    nobody.force_login(make_user("staff"))
    refused = nobody.get("/console/events", {"channels": "health"})
    assert refused.status_code == 403
    assert "the console needs one of the permissions" in refused.json()["payload"]["reason"]


def test_the_request_endpoint_checks_each_request():
    endpoint = Endpoint.objects.create(name="relay", url="wss://example.org/mcp/?token=t")
    frame = json.dumps(
        {"id": "r", "type": "endpoint:reconnect", "payload": {"endpointId": endpoint.pk}}
    )
    viewer = Client()
    viewer.force_login(make_user("viewer"))
    refused = viewer.post("/console/request", frame, content_type="application/json")
    assert refused.status_code == 403
    assert refused.json()["payload"]["reason"] == (
        "permission denied: endpoint:reconnect needs the permission endpoints.change_endpoint "
        "(Hub operators have it)"
    )
    assert not LogEntry.objects.exists()
    operator = Client()
    operator.force_login(make_user("operator"))
    tried = operator.post("/console/request", frame, content_type="application/json")
    # Allowed, and tried: no pool runs here, so 503 with the reason (not "reconnecting").
    assert tried.status_code == 503 and tried.json()["type"] == "error"
    assert "pool" in tried.json()["payload"]["reason"]
    assert LogEntry.objects.get().change_message == "Reconnect failed via the console."


async def test_a_viewer_with_an_api_token_uses_the_console():
    """Token users are resolved in the event loop: their permissions must be read for
    them before the checks run there (a database query would be refused)."""
    from tests.services import api_token

    viewer = await sync_to_async(make_user)("viewer")
    key = await sync_to_async(api_token)(viewer)
    headers = [
        (b"origin", b"http://localhost"),
        (b"host", b"localhost"),
        (b"authorization", f"Token {key}".encode()),
    ]
    ws = WebsocketCommunicator(application, "/ws/console/", headers=headers)
    assert (await ws.connect(timeout=10))[0]
    assert json.loads(await ws.receive_from(timeout=10))["type"] == "hello"
    chat = await ask(ws, {"id": "c", "type": "subscribe", "payload": {"channel": "chat"}})
    assert chat["type"] == "ok"
    refused = await ask(ws, {"id": "s", "type": "sync:start"})
    assert refused["type"] == "error" and "chathistory.add_syncrun" in refused["payload"]["reason"]
    await ws.disconnect()
