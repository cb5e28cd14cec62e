"""Every device has a console channel, whatever its identifier (issue 13, item 1).

A device's live transcript is `chat:<device pk>`: always a valid channel name.
Driven through the real ASGI application, as the browser client does.
"""

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from chathistory.models import Device
from tests.chathistory.test_device_identity import ODD
from tests.console.helpers import ingest
from tests.xiaozhi_hub.test_console import communicator, console_settings, request, subscribe
from xiaozhi_hub.console.protocol import FrameError, subscribable

__all__ = ["console_settings"]  # a fixture, used by name

pytestmark = [
    pytest.mark.requires_services("mysql", "redis"),
    pytest.mark.django_db(transaction=True),
]


@sync_to_async
def superuser_cookie() -> bytes:
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(
        "root", password="pw", is_staff=True, is_superuser=True
    )
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


@sync_to_async
def device_pk(mac: str) -> int:
    return Device.objects.get(mac=mac).pk


async def test_every_device_gets_its_snapshot_and_live_updates(console_settings):
    pks = {}
    for mac in ODD:
        await sync_to_async(ingest)(mac, f"first of {mac}", session="s")
        pks[mac] = await device_pk(mac)
    ws = communicator(await superuser_cookie())
    connected, _ = await ws.connect()
    assert connected
    assert (await ws.receive_json_from(timeout=5))["type"] == "hello"

    for number, mac in enumerate(ODD):
        snapshot = await subscribe(ws, f"chat:{pks[mac]}", f"s{number}")
        assert snapshot["type"] == "chat:snapshot"
        assert [m["content"] for m in snapshot["payload"]["messages"]] == [f"first of {mac}"]

    for mac in ODD:
        await sync_to_async(ingest)(mac, f"live from {mac}", session="s")
        update = await ws.receive_json_from(timeout=10)
        assert update["type"] == "chat_update" and update["channel"] == f"chat:{pks[mac]}"
        assert update["payload"]["device"] == mac and update["payload"]["device_pk"] == pks[mac]
        assert [m["content"] for m in update["payload"]["messages"]] == [f"live from {mac}"]
    assert await ws.receive_nothing(timeout=0.5)
    await ws.disconnect()


async def test_the_all_devices_channel_names_each_device_by_its_pk(console_settings):
    await sync_to_async(ingest)("a b", "before", session="s")
    pk = await device_pk("a b")
    ws = communicator(await superuser_cookie())
    await ws.connect()
    await ws.receive_json_from(timeout=5)
    await subscribe(ws, "chat", "all")
    await sync_to_async(ingest)("a b", "now", session="s")
    update = await ws.receive_json_from(timeout=10)
    assert update["channel"] == "chat" and update["payload"]["device_pk"] == pk
    unknown = await request(
        ws, {"id": "u", "type": "subscribe", "payload": {"channel": f"chat:{pk + 1000}"}}
    )
    assert unknown["type"] == "error" and "unknown device" in unknown["payload"]["reason"]
    await ws.disconnect()


@pytest.mark.parametrize(
    "channel, ok",
    [
        ("chat:17", True),
        ("chat:aa:bb:cc:dd:ee:ff", True),  # the older spelling, for devices that are MACs
        ("chat:AA-BB-CC-DD-EE-FF", False),
        ("chat:a b", False),
        ("chat:0", False),
        ("chat:-1", False),
        ("chat:" + "9" * 30, False),
    ],
)
def test_device_channels_are_a_pk_or_a_canonical_mac(channel, ok):
    if ok:
        assert subscribable(channel) == channel
    else:
        with pytest.raises(FrameError):
            subscribable(channel)
