"""REST /api/v2/sources, the `chat_sources` command, the admin form and the beat's fan-out.

Secrets never come back in clear; hostile input (bad URLs, wrong schemes, huge
values, unknown kinds, a changed key) is a 400 naming the field, never a 500.
"""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone

from chathistory import tasks
from chathistory.models import ChatMessage, Device, Source, SyncState
from chathistory.source_selectors import sources_due
from chathistory.sync.dispatch import run_source_sync
from xiaozhi_hub.celery import app

pytestmark = pytest.mark.requires_services("mysql")

SECRET = "s3cr3t-pw"
URL = f"mysql://reader:{SECRET}@db.example:3306/xiaozhi_esp32_server"


@pytest.fixture
def eager_tasks():
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


def create(client, **fields):
    body = {"key": "site-a", "url": URL, **fields}
    return client.post("/api/v2/sources", body, content_type="application/json")


def test_create_list_change_and_remove_with_secrets_masked(staff_client):
    created = create(staff_client, name="Site A", sync_interval=60)
    assert created.status_code == 201, created.content
    assert SECRET not in created.content.decode()
    assert created.json()["url"] == "mysql://reader:***@db.example:3306/xiaozhi_esp32_server"
    assert Source.objects.get(key="site-a").url == URL  # stored whole (encrypted at rest)

    listed = staff_client.get("/api/v2/sources")
    assert listed.status_code == 200 and SECRET not in listed.content.decode()
    assert [s["key"] for s in listed.json()] == ["site-a"]

    # "***" keeps the stored URL; other fields change.
    changed = staff_client.patch(
        "/api/v2/sources/site-a",
        {"url": "mysql://reader:***@db.example:3306/xiaozhi_esp32_server", "enabled": False},
        content_type="application/json",
    )
    assert changed.status_code == 200, changed.content
    source = Source.objects.get(key="site-a")
    assert source.url == URL and source.enabled is False

    token = staff_client.patch(
        "/api/v2/sources/site-a",
        {"kind": "manager-api", "url": "https://manager.example/xiaozhi", "token": "tok-123"},
        content_type="application/json",
    )
    assert token.status_code == 200 and token.json()["token"] == "***"
    assert "tok-123" not in token.content.decode()
    assert Source.objects.get(key="site-a").token == "tok-123"

    removed = staff_client.delete("/api/v2/sources/site-a")
    assert removed.status_code == 200 and not Source.objects.exists()
    assert staff_client.get("/api/v2/sources/site-a").status_code == 404


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"url": "postgres://u:pw@h/db"}, "url"),
        ({"url": "https://host/xiaozhi"}, "url"),  # a mysql source needs mysql://
        ({"url": "mysql://u:pw@h:99999/db"}, "url"),
        ({"url": "mysql://u:pw@/db"}, "url"),
        ({"url": "mysql://u:pw@host"}, "url"),  # no database
        ({"url": "mysql://u:pw@h/" + "x" * 5000}, "url"),
        ({"url": ""}, "url"),
        ({"kind": "oracle"}, "kind"),
        ({"kind": "manager-api", "url": "mysql://u:pw@h/db"}, "url"),
        ({"key": "no spaces"}, "key"),
        ({"key": "k" * 33}, "key"),
        ({"key": "../etc"}, "key"),
        ({"sync_interval": 0}, "sync_interval"),
        ({"sync_interval": 10**12}, "sync_interval"),
        ({"sync_interval": "soon"}, "sync_interval"),
        ({"name": "n" * 101}, "name"),
        ({"token": "t" * 5000}, "token"),
        ({"audio_mode": "loud"}, "audio_mode"),
        ({"enabled": "maybe"}, "enabled"),
    ],
)
def test_hostile_input_is_a_400_naming_the_field(staff_client, fields, field):
    response = create(staff_client, **fields)
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert "pw@" not in response.content.decode()  # a password never echoes back
    assert not Source.objects.exists()


def test_hostile_bodies_and_keys(staff_client):
    assert create(staff_client).status_code == 201
    duplicate = create(staff_client)
    assert duplicate.status_code == 400 and "key" in duplicate.json()
    rekey = staff_client.patch(
        "/api/v2/sources/site-a", {"key": "other"}, content_type="application/json"
    )
    assert rekey.status_code == 400 and "key" in rekey.json()
    assert staff_client.patch(
        "/api/v2/sources/site-a", "[1, 2]", content_type="application/json"
    ).status_code in (400, 415)
    assert staff_client.get("/api/v2/sources/" + "z" * 300).status_code == 404
    assert staff_client.get("/api/v2/sync/status", {"source": "no such"}).status_code == 400
    assert staff_client.get("/api/v2/sync/status", {"source": "nope"}).status_code == 404
    queued = staff_client.post("/api/v2/sync", {"source": "nope"}, content_type="application/json")
    assert queued.status_code == 404 and queued.json()["queued"] is False


def test_permissions(client, transactional_db):
    Source.objects.create(key="site-a", url=URL)
    assert client.get("/api/v2/sources").status_code in (401, 403)
    user = get_user_model().objects.create_user("plain", password="pw", is_staff=True)
    client.force_login(user)
    refused = client.get("/api/v2/sources")
    assert refused.status_code == 403 and "chathistory.view_source" in refused.json()["detail"]
    assert create(client, key="site-b").status_code == 403
    assert client.delete("/api/v2/sources/site-a").status_code == 403
    assert Source.objects.count() == 1


def test_removing_a_source_with_history_needs_purge(staff_client, lab):
    lab.write(mac="aa:bb:cc:dd:ee:01", content="kept")
    assert run_source_sync(Source.objects.get(key="lab"), trigger="test").rows_written == 1

    refused = staff_client.delete("/api/v2/sources/lab")
    assert refused.status_code == 409 and "purge" in refused.json()["detail"]
    assert ChatMessage.objects.filter(source="lab").count() == 1

    purged = staff_client.delete("/api/v2/sources/lab?purge=true")
    assert purged.status_code == 200
    assert purged.json()["deleted"]["messages"] == 1
    assert not ChatMessage.objects.filter(source="lab").exists()
    assert not Device.objects.filter(source="lab").exists()
    assert not SyncState.objects.filter(source="lab").exists()


def test_chat_sources_command(transactional_db, monkeypatch):
    out = StringIO()
    call_command("chat_sources", "add", "site-a", "--url", URL, "--sync-interval", "45", stdout=out)
    assert "added source site-a" in out.getvalue()
    out = StringIO()
    call_command("chat_sources", "list", stdout=out)
    assert "site-a" in out.getvalue() and SECRET not in out.getvalue() and "***" in out.getvalue()

    monkeypatch.setattr("sys.stdin", StringIO("mysql://other:pw2@db2.example/xz\n"))
    call_command("chat_sources", "update", "site-a", "--url", "-", "--enabled", "no")
    source = Source.objects.get(key="site-a")
    assert source.url == "mysql://other:pw2@db2.example/xz" and not source.enabled

    with pytest.raises(CommandError, match="url"):
        call_command("chat_sources", "update", "site-a", "--url", "ftp://x/y")
    with pytest.raises(CommandError, match="unknown source"):
        call_command("chat_sources", "remove", "nope")
    with pytest.raises(CommandError, match="not queued"):
        call_command("chat_sources", "sync")  # the only source is disabled
    call_command("chat_sources", "remove", "site-a", stdout=StringIO())
    assert not Source.objects.exists()


def test_the_beat_fans_out_to_due_sources_only(esp32, lab, eager_tasks, settings):
    esp32.write(mac="aa:bb:cc:dd:ee:01", content="from esp32")
    lab.write(mac="aa:bb:cc:dd:ee:01", content="from lab")
    Source.objects.create(key="off", url=URL, enabled=False)

    tasks.sync_chat_history.delay(trigger="beat")

    assert set(ChatMessage.objects.values_list("source", flat=True)) == {"esp32", "lab"}
    # Just synced: nothing is due until each interval passes.
    assert sources_due() == []
    Source.objects.filter(key="lab").update(sync_interval=3600)
    later = timezone.now() + timezone.timedelta(seconds=120)
    assert [s.key for s in sources_due(now=later)] == ["esp32"]

    # A manual request (no source) syncs every enabled one, whatever their intervals.
    lab.write(mac="aa:bb:cc:dd:ee:01", content="lab again")
    tasks.sync_chat_history.delay(trigger="manual")
    assert ChatMessage.objects.filter(source="lab").count() == 2


def test_the_admin_form_keeps_masked_secrets(admin_client_sources):
    client = admin_client_sources
    source = Source.objects.create(key="site-a", url=URL, token="tok")
    page = client.get(f"/admin/chathistory/source/{source.pk}/change/")
    body = page.content.decode()
    assert (
        page.status_code == 200
        and SECRET not in body
        and "tok" not in body.split("token")[-1][:200]
    )
    form = {
        "name": "renamed",
        "kind": "mysql",
        "url": "***",
        "token": "***",
        "enabled": "on",
        "sync_interval": "30",
        "audio_mode": "off",
    }
    saved = client.post(f"/admin/chathistory/source/{source.pk}/change/", form)
    assert saved.status_code == 302, saved.content.decode()[:2000]
    source.refresh_from_db()
    assert (source.name, source.url, source.token) == ("renamed", URL, "tok")
    bad = client.post(
        f"/admin/chathistory/source/{source.pk}/change/", {**form, "url": "http://x/y"}
    )
    assert bad.status_code == 200 and "not a mysql:// URL" in bad.content.decode()


@pytest.fixture
def admin_client_sources(client, transactional_db):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(user)
    return client


@pytest.mark.requires_services("redis")
def test_a_failed_source_task_is_retried_with_its_own_key(transactional_db):
    from celery.exceptions import Retry

    from tests.services import free_port

    Source.objects.create(key="gone", url=f"mysql://root@127.0.0.1:{free_port()}/xz")
    task = tasks.sync_source
    task.push_request(id="t-gone", retries=0, is_eager=False, called_directly=False)
    try:
        with pytest.raises(Retry) as retry:
            task.run("gone", trigger="beat")
    finally:
        task.pop_request()
    assert retry.value.sig.kwargs == {
        "device": None,
        "session_id": None,
        "trigger": "retry",
        "key": "gone",
    }
    assert SyncState.objects.get(source="gone").status == "failed"


def test_the_schedule_check_counts_added_sources(transactional_db):
    from chathistory.health import check_sync_schedule

    assert check_sync_schedule().status == "not_configured"
    Source.objects.create(key="site-a", url=URL, enabled=False)
    assert check_sync_schedule().status == "not_configured"
    Source.objects.filter(key="site-a").update(enabled=True)
    assert check_sync_schedule().status != "not_configured"


def test_the_environment_source_is_listed_and_keeps_its_connection(staff_client, esp32):
    listed = staff_client.get("/api/v2/sources").json()
    assert [(s["key"], s["from_environment"], s["configured"]) for s in listed] == [
        ("esp32", True, True)
    ]
    for change in ({"kind": "manager-api"}, {"url": "mysql://u:pw@elsewhere/db"}):
        refused = staff_client.patch(
            "/api/v2/sources/esp32", change, content_type="application/json"
        )
        assert refused.status_code == 400, refused.content
    ok = staff_client.patch(
        "/api/v2/sources/esp32", {"sync_interval": 120}, content_type="application/json"
    )
    assert ok.status_code == 200 and ok.json()["sync_interval"] == 120
