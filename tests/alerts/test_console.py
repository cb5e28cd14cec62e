"""The console's `alerts` channel and requests on the real ASGI application (Redis
channel layer when available): a firing alert arrives as a delta after the snapshot;
operators acknowledge and silence; viewers may only watch."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.utils import timezone

from endpoints.models import Endpoint, EndpointLiveStatus
from tests.access.identities import make_user
from tests.alerts.conftest import make_rule
from xiaozhi_hub.alerts import kinds
from xiaozhi_hub.alerts.engine import evaluate_rules
from xiaozhi_hub.alerts.models import Alert
from xiaozhi_hub.asgi import application

pytestmark = [pytest.mark.requires_services("redis"), pytest.mark.django_db(transaction=True)]


@sync_to_async
def socket_for(identity: str) -> WebsocketCommunicator:
    client = Client()
    client.force_login(make_user(identity))
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost"), (b"cookie", cookie)]
    return WebsocketCommunicator(application, "/ws/console/", headers=headers)


async def connected(identity: str) -> WebsocketCommunicator:
    ws = await socket_for(identity)
    assert (await ws.connect(timeout=10))[0]
    assert (await ws.receive_json_from(timeout=10))["type"] == "hello"
    return ws


# Pushes read while waiting for an answer (a delta may come before the `ok`: it leaves
# when the change commits, the answer after).
SEEN: list[dict] = []


async def answer(ws, frame: dict) -> dict:
    await ws.send_to(text_data=json.dumps(frame))
    while True:
        reply = await ws.receive_json_from(timeout=15)
        if reply["id"] == frame["id"]:
            return reply
        SEEN.append(reply)


async def next_of(ws, kind: str) -> dict:
    for index, frame in enumerate(SEEN):
        if frame["type"] == kind:
            return SEEN.pop(index)
    while True:
        frame = await ws.receive_json_from(timeout=15)
        if frame["type"] == kind:
            return frame


@sync_to_async
def failing_endpoint(name: str) -> Endpoint:
    endpoint = Endpoint.objects.create(name=name, url=f"wss://example.org/mcp/?token=Tok{name}")
    Endpoint.objects.filter(pk=endpoint.pk).update(
        owner="w", lease_expires_at=timezone.now() + timezone.timedelta(hours=1)
    )
    EndpointLiveStatus.objects.create(endpoint=endpoint, state="failed")
    return endpoint


async def test_a_firing_alert_appears_on_the_alerts_channel_and_operators_act_on_it():
    await sync_to_async(make_rule)(kinds.ENDPOINT_FAILED, severity="critical")
    await failing_endpoint("first")
    await sync_to_async(evaluate_rules)()
    first = await Alert.objects.aget()

    SEEN.clear()
    ws = await connected("operator")
    try:
        ok = await answer(ws, {"id": "s", "type": "subscribe", "payload": {"channel": "alerts"}})
        assert (ok["type"], ok["channel"]) == ("ok", "alerts")
        snapshot = await ws.receive_json_from(timeout=10)
        assert snapshot["type"] == "alerts:snapshot"
        assert [a["id"] for a in snapshot["payload"]["alerts"]] == [first.pk]
        assert snapshot["payload"]["alerts"][0]["message"] == (
            "Endpoint “first” failed: it gave up reconnecting."
        )

        second_endpoint = await failing_endpoint("second")
        await sync_to_async(evaluate_rules)()
        delta = await next_of(ws, "alert_firing")
        alert = delta["payload"]["alert"]
        assert (alert["subject"], alert["state"], alert["severity"]) == (
            f"endpoint:{second_endpoint.pk}",
            "firing",
            "critical",
        )
        assert alert["message_zh"] == "端点“second”连接失败，已停止重连。"

        acked = await answer(
            ws, {"id": "a", "type": "alert:acknowledge", "payload": {"alert_id": alert["id"]}}
        )
        assert acked["type"] == "ok" and acked["payload"]["alert"]["acknowledged_by"] == "operator"
        updated = await next_of(ws, "alert_updated")
        assert updated["payload"]["alert"]["acknowledged_by"] == "operator"

        silence = {"id": "m", "type": "alert:silence", "payload": {"alert_id": alert["id"]}}
        for minutes, reason in ((None, '"minutes" must be a whole number'), (99999, "a week")):
            silence["payload"]["minutes"] = minutes
            refused = await answer(ws, silence)
            assert refused["type"] == "error" and reason in refused["payload"]["reason"]
        silence["payload"]["minutes"] = 60
        assert (await answer(ws, silence))["payload"]["alert"]["silenced"] is True

        unknown = await answer(
            ws, {"id": "u", "type": "alert:acknowledge", "payload": {"alert_id": 999999}}
        )
        assert unknown["payload"]["reason"] == "unknown alert 999999"
        bad = await answer(ws, {"id": "b", "type": "alert:acknowledge", "payload": {}})
        assert bad["payload"]["reason"] == '"alert_id" must be a positive integer'
    finally:
        await ws.disconnect()
    messages = await sync_to_async(list)(
        LogEntry.objects.filter(object_id=str(alert["id"])).values_list("change_message", flat=True)
    )
    assert sorted(messages) == [
        "Acknowledged via the console.",
        "Silenced for 60 min via the console.",
    ]


async def test_viewers_watch_the_alerts_but_cannot_act():
    await sync_to_async(make_rule)(kinds.ENDPOINT_FAILED)
    await failing_endpoint("watched")
    await sync_to_async(evaluate_rules)()
    alert = await Alert.objects.aget()
    ws = await connected("viewer")
    try:
        ok = await answer(ws, {"id": "s", "type": "subscribe", "payload": {"channel": "alerts"}})
        assert ok["type"] == "ok"
        refused = await answer(
            ws, {"id": "a", "type": "alert:acknowledge", "payload": {"alert_id": alert.pk}}
        )
        assert refused["type"] == "error"
        assert refused["payload"]["reason"] == (
            "permission denied: alert:acknowledge needs the permission alerts.change_alert"
            " (Hub operators have it)"
        )
    finally:
        await ws.disconnect()
    assert (await Alert.objects.aget()).acknowledged_at is None
