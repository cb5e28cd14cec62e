"""Console pages: staff only, linked from the admin, rendering what the data side has."""

import json

import pytest

from chathistory.models import Device
from tests.console.helpers import REPORT_SECRET, ingest

pytestmark = pytest.mark.django_db

PAGES = ["/console/", "/console/devices/", "/console/sync/"]


@pytest.mark.parametrize("path", PAGES)
def test_pages_send_anonymous_and_non_staff_users_to_the_login(client, django_user_model, path):
    assert client.get(path).url.startswith("/admin/login/")
    client.force_login(django_user_model.objects.create_user("visitor", password="pw"))
    assert client.get(path).url.startswith("/admin/login/")


@pytest.mark.parametrize("path", PAGES)
def test_pages_render_for_staff_with_the_client_configuration(admin_client, settings, path):
    settings.HUB_CONSOLE_TRANSPORT = "sse"
    response = admin_client.get(path)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    page = response.content.decode()
    config = json.loads(page.split('id="console-config" type="application/json">')[1].split("<")[0])
    assert config["transport"] == "sse" and config["wsPath"] == "/ws/console/"
    assert config["eventsPath"] == "/console/events" and config["probePath"] == "/api/health"
    assert 'id="console-status"' in page and 'name="viewport"' in page
    assert 'type="module"' in page


def test_the_admin_header_links_to_the_console(admin_client):
    page = admin_client.get("/admin/").content.decode()
    for path in PAGES:
        assert f'href="{path}"' in page


def test_devices_search_and_transcript_show_chinese_text(admin_client, settings):
    settings.HUB_REPORT_SECRET = REPORT_SECRET
    ingest("aa:bb:cc:00:00:71", "打开客厅的灯 💡", session="sess-71")
    ingest("aa:bb:cc:00:00:72", "other device", session="sess-72")

    found = admin_client.get("/console/devices/", {"q": "00:71"}).content.decode()
    assert "aa:bb:cc:00:00:71" in found and "打开客厅的灯 💡" in found
    assert "aa:bb:cc:00:00:72" not in found
    nothing = admin_client.get("/console/devices/", {"q": "zzz"}).content.decode()
    assert "No device matches" in nothing

    # The older MAC address of the page leads to the device's page, named by its pk.
    transcript = admin_client.get("/console/devices/aa:bb:cc:00:00:71/", follow=True)
    assert transcript.status_code == 200
    pk = Device.objects.get(mac="aa:bb:cc:00:00:71").pk
    assert transcript.redirect_chain == [(f"/console/devices/{pk}/", 302)]
    page = transcript.content.decode()
    assert 'data-session="sess-71"' in page
    assert f'"channels": ["chat:{pk}"]' in page


def test_an_unknown_device_is_a_404(admin_client):
    assert admin_client.get("/console/devices/no-such-device/").status_code == 404
