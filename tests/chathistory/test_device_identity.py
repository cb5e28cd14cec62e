"""What a device identifier is, and odd identifiers on every page and route (issue 13, item 1).

The source is the truth: whatever non-empty `mac_address` it holds is a device.
Real MACs become one canonical key; anything else is kept (trimmed). Pages, URLs
and the REST API name a device by its primary key, so no stored value can break them.
"""

import html
import re

import pytest

from chathistory.devices import InvalidDeviceId, device_key, source_spellings
from chathistory.models import ChatMessage, ChatSession, Device
from chathistory.sync import run_sync
from tests.console.helpers import REPORT_SECRET, ingest

# Identifiers a report or a source row may carry; each broke a page, a URL or a channel.
ODD = [
    "a/b",
    "../x",
    "a b",
    "<img src=x onerror=alert(1)>",
    "设备-一号 🤖",
    "x" * 50,
    "50%?#&=;\\'\"",
]


@pytest.mark.parametrize(
    "raw, key",
    [
        ("aa:bb:cc:dd:ee:ff", "aa:bb:cc:dd:ee:ff"),
        ("AA:BB:CC:DD:EE:FF", "aa:bb:cc:dd:ee:ff"),
        ("AA-BB-CC-dd-ee-ff", "aa:bb:cc:dd:ee:ff"),
        ("aabbccddeeff", "aa:bb:cc:dd:ee:ff"),
        ("  AABBCCDDEEFF \n", "aa:bb:cc:dd:ee:ff"),
        ("aa:bb-cc:dd-ee:ff", "aa:bb-cc:dd-ee:ff"),  # mixed separators: not a MAC, kept
        ("aa:bb:cc:dd:ee", "aa:bb:cc:dd:ee"),
        ("  Device 7 ", "Device 7"),
        ("../x", "../x"),
    ],
)
def test_device_key_normalises_macs_and_keeps_any_other_identifier(raw, key):
    assert device_key(raw) == key


@pytest.mark.parametrize("raw", ["", "   ", "\t\n", None, 17])
def test_an_empty_identifier_is_refused(raw):
    with pytest.raises(InvalidDeviceId):
        device_key(raw)


def test_source_spellings_cover_every_way_a_mac_is_written():
    spellings = source_spellings("aa:bb:cc:dd:ee:ff")
    assert {"aa:bb:cc:dd:ee:ff", "AA-BB-CC-DD-EE-FF", "aabbccddeeff"} <= set(spellings)
    assert source_spellings("a b") == ["a b"]


def _transcript_link(page: str, pk: int) -> str:
    links = re.findall(r'href="(/console/devices/[^"]*)"', page)
    assert f"/console/devices/{pk}/" in links, links
    return f"/console/devices/{pk}/"


def _assert_pages_and_routes(client, key: str, content: str) -> None:
    device = Device.objects.get(mac=key)
    escaped = html.escape(key, quote=True)

    devices = client.get("/console/devices/")
    assert devices.status_code == 200
    page = devices.content.decode()
    assert escaped in page
    assert "<img src=x" not in page  # rendered as text, never as markup

    transcript = client.get(_transcript_link(page, device.pk))
    assert transcript.status_code == 200
    page = transcript.content.decode()
    assert escaped in page and "<img src=x" not in page
    assert f'"channels": ["chat:{device.pk}"]' in page

    history = client.get(f"/api/v2/devices/{device.pk}/history")
    assert history.status_code == 200, history.content
    body = history.json()
    assert body["device"]["mac"] == key and body["device"]["id"] == device.pk
    assert [m["content"] for s in body["sessions"] for m in s["messages"]] == [content]
    sessions = client.get(f"/api/v2/devices/{device.pk}/sessions")
    assert sessions.status_code == 200
    (session,) = sessions.json()["results"]
    messages = client.get(f"/api/v2/devices/{device.pk}/sessions/{session['id']}/messages")
    assert messages.status_code == 200
    (message,) = messages.json()["results"]
    assert (message["device"], message["device_pk"], message["content"]) == (
        key,
        device.pk,
        content,
    )
    listed = client.get("/api/v2/devices", {"q": key})
    assert listed.status_code == 200 and key in [d["mac"] for d in listed.json()["results"]]


@pytest.mark.django_db
@pytest.mark.parametrize("mac", ODD)
def test_odd_identifiers_from_a_report_work_on_every_page_and_route(admin_client, settings, mac):
    settings.HUB_REPORT_SECRET = REPORT_SECRET
    ingest(mac, f"hello from {mac}")
    _assert_pages_and_routes(admin_client, mac, f"hello from {mac}")


@pytest.mark.requires_services("mysql")
def test_odd_identifiers_from_source_rows_work_on_every_page_and_route(esp32, admin_client):
    for number, mac in enumerate(ODD):
        esp32.write(mac=mac, session=f"s-{number}", content=f"row of {mac}")
    esp32.execute(
        "INSERT INTO ai_device (id, mac_address, alias) VALUES ('d1', %s, 'odd one')", ["a b"]
    )
    assert run_sync(trigger="test").status == "success"
    assert Device.objects.count() == len(ODD)
    for mac in ODD:
        _assert_pages_and_routes(admin_client, mac, f"row of {mac}")


@pytest.mark.requires_services("mysql")
def test_every_spelling_of_a_mac_is_one_device(esp32, client, settings):
    settings.HUB_REPORT_SECRET = REPORT_SECRET
    esp32.write(mac="AA-BB-CC-00-00-01", session="s", content="dashes")
    esp32.write(mac="aabbcc000001", session="s", content="plain")
    esp32.execute(
        "INSERT INTO ai_device (id, mac_address, alias) VALUES ('d1', 'AA:BB:CC:00:00:01', 'hall')"
    )
    assert run_sync(trigger="test").status == "success"
    ingest("AA:BB:CC:00:00:01", "reported", session="s")

    device = Device.objects.get()
    assert (device.mac, device.alias, device.message_count) == ("aa:bb:cc:00:00:01", "hall", 3)
    assert ChatSession.objects.get().message_count == 3
    assert ChatMessage.objects.filter(device=device).count() == 3


@pytest.mark.django_db
def test_an_empty_identifier_in_a_report_is_refused_and_nothing_is_stored(client, settings):
    settings.HUB_REPORT_SECRET = REPORT_SECRET
    from tests.console.helpers import REPORT_PATH, report_body

    response = client.post(
        REPORT_PATH,
        report_body("   ", "x"),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {REPORT_SECRET}",
    )
    assert response.status_code == 400 and response.json()["code"] != 0
    assert not Device.objects.exists() and not ChatMessage.objects.exists()


@pytest.mark.django_db
def test_old_mac_urls_still_lead_to_the_device(admin_client, settings):
    settings.HUB_REPORT_SECRET = REPORT_SECRET
    ingest("AA:BB:CC:00:00:07", "hi")
    device = Device.objects.get()
    assert device.mac == "aa:bb:cc:00:00:07"

    for spelling in ("aa:bb:cc:00:00:07", "AA-BB-CC-00-00-07"):
        old = admin_client.get(f"/console/devices/{spelling}/")
        assert (old.status_code, old["Location"]) == (302, f"/console/devices/{device.pk}/")
        api = admin_client.get(f"/api/v2/chat-history/{spelling}")
        assert api.status_code == 200 and api.json()["device"]["id"] == device.pk
        assert admin_client.get(f"/api/v2/sessions/{spelling}").status_code == 200
    assert admin_client.get("/console/devices/no-such-device/").status_code == 404
    assert admin_client.get(f"/console/devices/{device.pk + 1}/").status_code == 404
    assert admin_client.get(f"/api/v2/devices/{device.pk + 1}/history").status_code == 404
