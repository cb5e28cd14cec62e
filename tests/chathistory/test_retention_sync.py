"""Retention meets the sync (real source database): masks apply before a row is stored,
rows a policy would delete are not copied, a deleted device's history never comes back,
and the pass deletes exactly what the policy says while syncs run in another thread."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connections

from chathistory.models import ChatMessage, ChatSession, Device, RetentionRun, SkippedRow
from chathistory.retention import policies
from chathistory.retention.apply import retention_apply
from chathistory.retention.delete import device_history_delete
from chathistory.sync import run_sync

pytestmark = pytest.mark.requires_services("mysql")

MAC = "aa:bb:cc:dd:ee:01"


def days_ago(days: float) -> datetime:
    """A naive source time (the test source's zone is UTC)."""
    return (datetime.now(UTC) - timedelta(days=days)).replace(tzinfo=None)


@pytest.fixture
def source(esp32, settings):
    settings.HUB_SOURCE_TIME_ZONE = "UTC"
    return esp32


def write_many(source, rows: list[dict]) -> None:
    conn = source.connect()
    try:
        for row in rows:
            source.insert(conn, **row)
        conn.commit()
    finally:
        conn.close()


def test_masks_apply_before_storing_and_only_where_a_policy_masks(source):
    policies.retention_policy_create(
        data={"scope": "source", "source": "esp32", "redact_phone": True, "redact_email": True}
    )
    source.write(mac=MAC, content="my number is 13812345678, mail me at bob@example.com")
    source.write(mac="aa:bb:cc:dd:ee:02", content="13812345678")
    assert run_sync(trigger="test").status == "success"
    texts = dict(ChatMessage.objects.values_list("device__mac", "content"))
    assert texts[MAC] == "my number is 138****5678, mail me at b***@example.com"
    assert Device.objects.get(mac=MAC).last_message == texts[MAC]
    # A device policy without masks wins over its source's: that device is not masked.
    policies.retention_policy_create(
        data={"scope": "device", "device": Device.objects.get(mac="aa:bb:cc:dd:ee:02")}
    )
    source.write(mac="aa:bb:cc:dd:ee:02", content="again 13812345678")
    run_sync(trigger="test")
    assert ChatMessage.objects.filter(content="again 13812345678").count() == 1
    assert texts["aa:bb:cc:dd:ee:02"] == "138****5678"  # stored before the device policy


def test_rows_older_than_the_policy_keeps_are_not_copied_even_by_a_full_resync(source):
    policies.retention_policy_create(
        data={"scope": "source", "source": "esp32", "keep_messages_days": 30, "keep_audio_days": 2}
    )
    source.write(content="old", created_at=days_ago(100))
    source.write(content="middle", created_at=days_ago(10), audio_id="a1")
    source.write(content="new", created_at=days_ago(1), audio_id="a2")
    run_sync(trigger="test")
    run_sync(trigger="test", full=True)
    stored = dict(ChatMessage.objects.values_list("content", "audio_id"))
    assert stored == {"middle": None, "new": "a2"}  # audio older than 2 days: no audio id
    assert not SkippedRow.objects.exists()  # left out, not rejected


def test_a_deleted_device_history_never_comes_back_but_new_messages_do(source):
    for i in range(5):
        source.write(mac=MAC, session="s1", content=f"before {i}", created_at=days_ago(1))
    source.write(mac="aa:bb:cc:dd:ee:02", content="other device")
    run_sync(trigger="test")
    device = Device.objects.get(mac=MAC)
    deleted = device_history_delete(device=device, confirm=MAC, user="alice", trigger="api")
    assert deleted.messages == 5
    run_sync(trigger="test", full=True)
    run_sync(trigger="test", device=MAC)
    assert not ChatMessage.objects.filter(device=device).exists()
    source.write(mac=MAC, session="s2", content="after the deletion")
    run_sync(trigger="test")
    assert list(ChatMessage.objects.filter(device=device).values_list("content", flat=True)) == [
        "after the deletion"
    ]
    assert ChatMessage.objects.filter(content="other device").count() == 1
    device.refresh_from_db()
    assert device.message_count == 1


def test_the_pass_deletes_exactly_the_policy_while_a_sync_copies_in_another_thread(
    source, settings
):
    """Old rows of four devices are in the hub; new rows of the same devices and sessions
    are being copied while the pass deletes: no lock failure, every new row stays, every
    old one of the policy goes, the kept device keeps all, counters match the rows."""
    devices = [f"aa:bb:cc:dd:ee:{n:02d}" for n in range(1, 5)]
    kept = devices[0]
    old_rows = [
        {
            "mac": mac,
            "session": f"s{i % 3}",
            "content": f"old {mac} {i}",
            "created_at": days_ago(60),
        }
        for mac in devices
        for i in range(150)
    ]
    write_many(source, old_rows)
    assert run_sync(trigger="test").status == "success"
    policies.retention_policy_create(
        data={"scope": "source", "source": "esp32", "keep_messages_days": 30}
    )
    policies.retention_policy_create(
        data={"scope": "device", "device": Device.objects.get(mac=kept), "keep_messages_days": None}
    )
    new_rows = [
        {"mac": mac, "session": f"s{i % 3}", "content": f"new {mac} {i}", "created_at": days_ago(1)}
        for mac in devices
        for i in range(150)
    ]
    write_many(source, new_rows)
    settings.HUB_SYNC_BATCH_SIZE = 25
    start = threading.Barrier(2)
    outcome: dict[str, object] = {}

    def sync():
        try:
            start.wait()
            outcome["sync"] = run_sync(trigger="test", batch_size=25)
        except Exception as exc:  # noqa: BLE001
            outcome["sync"] = exc
        finally:
            connections.close_all()

    def retention():
        try:
            start.wait()
            outcome["retention"] = retention_apply(trigger="command", batch_size=20)
        except Exception as exc:  # noqa: BLE001
            outcome["retention"] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sync), threading.Thread(target=retention)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcome["sync"].status == "success", outcome["sync"]
    assert not isinstance(outcome["retention"], Exception), outcome["retention"]
    assert outcome["retention"].messages == 450  # three devices' old rows
    assert RetentionRun.objects.get().messages_deleted == 450
    contents = set(ChatMessage.objects.values_list("content", flat=True))
    assert contents == {r["content"] for r in new_rows} | {
        r["content"] for r in old_rows if r["mac"] == kept
    }
    assert not SkippedRow.objects.exists()
    for device in Device.objects.all():
        assert device.message_count == device.chatmessage_set.count()
        newest = device.chatmessage_set.order_by("-created_at", "-id").first()
        assert device.last_message_at == newest.created_at
    for session in ChatSession.objects.all():
        assert session.message_count == session.chatmessage_set.count()


def test_deleting_a_device_while_a_sync_copies_it_sticks_after_the_sweep(source, settings):
    """A sync copies the device's rows in small batches while its history is deleted: no
    failure on either side; whatever a batch slipped in after the deletion is swept by the
    next pass; the other device is untouched and every counter matches its rows."""
    other = "aa:bb:cc:dd:ee:02"
    rows = [
        {"mac": mac, "session": f"s{i % 4}", "content": f"{mac} {i}", "created_at": days_ago(1)}
        for i in range(300)
        for mac in (MAC, other)
    ]
    write_many(source, rows[:100])
    run_sync(trigger="test")  # the device exists in the hub, with some history
    write_many(source, rows[100:])
    device = Device.objects.get(mac=MAC)
    start = threading.Barrier(2)
    outcome: dict[str, object] = {}

    def sync():
        try:
            start.wait()
            outcome["sync"] = run_sync(trigger="test", batch_size=10)
        finally:
            connections.close_all()

    def delete():
        try:
            start.wait()
            outcome["delete"] = device_history_delete(
                device=device, confirm=MAC, user="alice", trigger="api", batch_size=15
            )
        except Exception as exc:  # noqa: BLE001
            outcome["delete"] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sync), threading.Thread(target=delete)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcome["sync"].status == "success", outcome["sync"]
    assert not isinstance(outcome["delete"], Exception), outcome["delete"]
    retention_apply(trigger="nightly")  # the sweep
    run_sync(trigger="test", full=True)  # and a full resync brings nothing back
    assert not ChatMessage.objects.filter(device__mac=MAC).exists()
    assert ChatMessage.objects.filter(device__mac=other).count() == 300
    for hub_device in Device.objects.all():
        assert hub_device.message_count == hub_device.chatmessage_set.count()
    for session in ChatSession.objects.all():
        assert session.message_count == session.chatmessage_set.count()
