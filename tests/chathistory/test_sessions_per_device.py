"""Sessions are keyed by (device, session id), not by the session id alone (issue 13, item 7).

Session ids come from each device's own connection; nothing stops two devices
from reporting the same one (a tool, a test rig, a reused id).
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from chathistory.models import ChatMessage, ChatSession, Device
from chathistory.selectors import session_list
from chathistory.sync import run_sync
from tests.console.helpers import REPORT_SECRET, ingest

MACS = [f"aa:bb:cc:00:01:{n:02x}" for n in range(9)]


def _assert_one_session_per_device(messages_each: int) -> None:
    sessions = ChatSession.objects.filter(session_id="sess-tool").select_related("device")
    assert sorted(s.device.mac for s in sessions) == MACS
    for session in sessions:
        assert session.message_count == messages_each
        owners = set(ChatMessage.objects.filter(session=session).values_list("device__mac"))
        assert owners == {(session.device.mac,)}
    for mac in MACS:
        (listed,) = session_list(device=Device.objects.get(mac=mac))
        assert (listed["session_id"], listed["message_count"]) == ("sess-tool", messages_each)


@pytest.mark.django_db
def test_nine_devices_reporting_one_session_id_get_nine_sessions(client, settings):
    settings.HUB_REPORT_SECRET = REPORT_SECRET
    for mac in MACS:
        ingest(mac, f"call from {mac}", session="sess-tool")
        ingest(mac, f"answer to {mac}", session="sess-tool", chat_type=2)
    _assert_one_session_per_device(2)


@pytest.mark.requires_services("mysql")
def test_nine_devices_in_the_source_with_one_session_id_get_nine_sessions(esp32, settings):
    settings.HUB_REPORT_SECRET = REPORT_SECRET
    esp32.execute(
        "INSERT INTO ai_agent_chat_title (id, session_id, title) VALUES ('t', 'sess-tool', 'Tools')"
    )
    for mac in MACS:
        esp32.write(mac=mac, session="sess-tool", content=f"call from {mac}")
    assert run_sync(trigger="test", batch_size=4).status == "success"
    for mac in MACS:  # a report of the same session after the sync joins its device's session
        ingest(mac, f"answer to {mac}", session="sess-tool", chat_type=2)
    _assert_one_session_per_device(2)
    assert set(ChatSession.objects.values_list("title", flat=True)) == {"Tools"}


@pytest.mark.requires_services("mysql")
def test_rows_naming_no_device_share_one_deviceless_session_across_runs(esp32):
    esp32.write(mac=None, session="orphan", content="one")
    assert run_sync(trigger="test").status == "success"
    esp32.write(mac="   ", session="orphan", content="two")  # blank: no device either
    assert run_sync(trigger="test").status == "success"
    session = ChatSession.objects.get(session_id="orphan")
    assert session.device is None and session.message_count == 2
    assert ChatMessage.objects.filter(session=session).count() == 2
    assert not Device.objects.exists()


@pytest.mark.django_db
def test_the_session_id_route_spans_every_device_that_used_it(admin_client, settings):
    settings.HUB_REPORT_SECRET = REPORT_SECRET
    for mac in MACS[:3]:
        ingest(mac, f"call from {mac}", session="sess-tool")
    response = admin_client.get("/api/v2/sessions/sess-tool/messages")
    assert response.status_code == 200
    assert {m["device"] for m in response.json()["results"]} == set(MACS[:3])
    assert admin_client.get("/api/v2/sessions/nope/messages").status_code == 404


# --- the migration that splits sessions shared by several devices --------------------------

BEFORE = [("chathistory", "0001_initial")]
AFTER = [("chathistory", "0002_device_identity_sessions_runs")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def at_0001(transactional_db):
    apps = _migrate(BEFORE)
    yield apps
    _migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())


def test_the_migration_splits_mixed_sessions_and_merges_spellings_of_a_mac(at_0001):
    apps = at_0001
    Device = apps.get_model("chathistory", "Device")
    Session = apps.get_model("chathistory", "ChatSession")
    Message = apps.get_model("chathistory", "ChatMessage")
    t0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    first = Device.objects.create(mac="aa:bb:cc:00:02:01", message_count=3)
    second = Device.objects.create(mac="AA-BB-CC-00-02-02", message_count=2, alias="kitchen")
    twin = Device.objects.create(mac="aabbcc000202", message_count=1, board="esp32-s3")
    odd = Device.objects.create(mac=" odd one ", message_count=1)
    mixed = Session.objects.create(
        session_id="sess-tool", device=first, title="Tools", message_count=7
    )
    alone = Session.objects.create(session_id="alone", device=first, message_count=1)

    def message(device, session, minutes, n):
        return Message.objects.create(
            device=device,
            session=session,
            match_key=f"k{n}",
            chat_type=1,
            role="user",
            content=f"m{n}",
            created_at=t0 + timedelta(minutes=minutes),
        )

    message(first, mixed, 0, 1)
    message(first, mixed, 5, 2)
    message(second, mixed, 1, 3)
    message(second, mixed, 9, 4)
    message(twin, mixed, 3, 5)
    message(odd, mixed, 7, 6)
    message(None, mixed, 8, 7)
    message(first, alone, 2, 8)

    apps = _migrate(AFTER)
    Device = apps.get_model("chathistory", "Device")
    Session = apps.get_model("chathistory", "ChatSession")
    Message = apps.get_model("chathistory", "ChatMessage")

    devices = {d.mac: d for d in Device.objects.all()}
    assert sorted(devices) == ["aa:bb:cc:00:02:01", "aa:bb:cc:00:02:02", "odd one"]
    merged = devices["aa:bb:cc:00:02:02"]
    assert (merged.pk, merged.message_count, merged.alias, merged.board) == (
        second.pk,
        3,
        "kitchen",
        "esp32-s3",
    )
    split = {
        (s.device.mac if s.device else None): s
        for s in Session.objects.filter(session_id="sess-tool").select_related("device")
    }
    assert sorted(split, key=str) == [None, "aa:bb:cc:00:02:01", "aa:bb:cc:00:02:02", "odd one"]
    assert split["aa:bb:cc:00:02:01"].pk == mixed.pk  # the first owner keeps the row
    expected = {  # device: (message contents, started minute, last minute)
        "aa:bb:cc:00:02:01": ({"m1", "m2"}, 0, 5),
        "aa:bb:cc:00:02:02": ({"m3", "m4", "m5"}, 1, 9),
        "odd one": ({"m6"}, 7, 7),
        None: ({"m7"}, 8, 8),
    }
    for mac, (contents, started, last) in expected.items():
        session = split[mac]
        assert set(Message.objects.filter(session=session).values_list("content", flat=True)) == (
            contents
        )
        assert session.message_count == len(contents) and session.title == "Tools"
        assert session.started_at == t0 + timedelta(minutes=started)
        assert session.last_message_at == t0 + timedelta(minutes=last)
    for row in Message.objects.exclude(session=None).select_related("session"):
        assert row.session.device_id == row.device_id
    assert Session.objects.get(session_id="alone").message_count == 1
