"""The devices and transcript pages as the server renders them: grouped by agent, the
device header, session names, and hostile search input shown as text."""

from __future__ import annotations

import pytest

from chathistory.models import Agent, ChatSession, Device
from tests.console.helpers import REPORT_SECRET, ingest

pytestmark = [pytest.mark.requires_services("mysql", "redis"), pytest.mark.django_db]

HOSTILE = '"><script>alert(1)</script>'


@pytest.fixture
def devices(settings):
    settings.HUB_REPORT_SECRET = REPORT_SECRET
    ingest("aa:bb:cc:00:40:01", "你好 小智", session="s-1")
    ingest("aa:bb:cc:00:40:02", "台灯", session="s-2")
    ingest("aa:bb:cc:00:40:03", "无名", session="s-3")
    agent = Agent.objects.create(agent_id="a-1", name="客厅助手")
    Device.objects.filter(mac__in=["aa:bb:cc:00:40:01", "aa:bb:cc:00:40:02"]).update(agent=agent)
    Device.objects.filter(mac="aa:bb:cc:00:40:01").update(alias="音箱", board="esp32-s3")
    return Device.objects.get(mac="aa:bb:cc:00:40:01")


def test_devices_are_grouped_by_agent(admin_client, devices):
    page = admin_client.get("/console/devices/").content.decode()
    agent = page.index('data-agent="a-1"')
    alone = page.index('data-agent=""')
    group = page[agent:alone] if agent < alone else page[agent:]
    assert "客厅助手" in group and "2 devices" in group
    assert 'data-device="aa:bb:cc:00:40:01"' in group and 'data-device="aa:bb:cc:00:40:02"' in group
    assert 'data-device="aa:bb:cc:00:40:03"' not in group
    assert "No agent" in page
    # The device search finds devices by agent name too.
    found = admin_client.get("/console/devices/", {"q": "客厅"}).content.decode()
    assert "aa:bb:cc:00:40:02" in found and "aa:bb:cc:00:40:03" not in found


def test_the_transcript_header_and_session_names(admin_client, devices):
    ChatSession.objects.filter(session_id="s-1").update(title="")
    page = admin_client.get(f"/console/devices/{devices.pk}/").content.decode()
    assert "<title>音箱" in page or "音箱 |" in page
    assert 'id="device-board">esp32-s3<' in page and "客厅助手" in page
    assert 'data-title="你好 小智"' in page  # no title: the first words
    ChatSession.objects.filter(session_id="s-1").update(title="问候")
    page = admin_client.get(f"/console/devices/{devices.pk}/").content.decode()
    assert 'data-title="问候"' in page
    export = f'href="/api/v2/devices/{devices.pk}/export?format=csv"'
    assert export in page


def test_hostile_search_text_is_shown_as_text(admin_client, devices):
    for path, field in (
        ("/console/devices/", 'id="device-search"'),
        (f"/console/devices/{devices.pk}/", 'id="transcript-q"'),
    ):
        response = admin_client.get(path, {"q": HOSTILE + "x" * 500})
        assert response.status_code == 200
        page = response.content.decode()
        assert "<script>alert(1)</script>" not in page
        box = page[page.index(field) :].split(">", 1)[0]
        assert 'value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;xxx' in box
        assert "x" * 201 not in box  # cut to the search's length
