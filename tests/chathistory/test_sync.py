"""The sync against a real source database: contents, ordering, cursor, claims."""

import threading
from datetime import UTC, datetime

import pytest

from chathistory.models import (
    ChatMessage,
    ChatSession,
    Device,
    SkippedRow,
    SyncGap,
    SyncRun,
    SyncState,
)
from chathistory.sync import claim, run_sync

pytestmark = pytest.mark.requires_services("mysql")

MAC = "aa:bb:cc:dd:ee:01"


def hub_rows():
    return list(
        ChatMessage.objects.order_by("source_id").values_list(
            "source_id", "device__mac", "session__session_id", "chat_type", "content", "created_at"
        )
    )


def source_as_hub(source):
    return [
        (i, mac, sid, t, c, created.replace(tzinfo=UTC))
        for i, mac, sid, t, c, created in source.rows()
    ]


def test_sync_copies_every_kind_of_row_exactly(esp32):
    long_text = "长" * 5000 + " 🤖" * 500
    esp32.write(
        content='{"speaker": "Alice", "content": "你好 👋"}', created_at="2025-01-02 03:04:05.678"
    )
    esp32.write(chat_type=2, content=long_text)
    esp32.write(
        chat_type=3, content='[{"type":"tool","text":"get_weather({\\"city\\": \\"北京\\"})"}]'
    )
    esp32.write(mac=None, agent=None, session=None, content=None)
    esp32.write(chat_type=9, content="from the future")  # a bad row
    esp32.write(chat_type=2, session="s2", content="bye")

    result = run_sync(trigger="test")

    assert result.status == "success", result.error
    assert (result.rows_read, result.rows_written, result.rows_skipped) == (6, 5, 1)
    by_source = {m.source_id: m for m in ChatMessage.objects.select_related("device", "session")}
    assert sorted(by_source) == [1, 2, 3, 4, 6]
    user = by_source[1]
    assert (user.role, user.speaker, user.content) == ("user", "Alice", "你好 👋")
    assert user.created_at == datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assert by_source[2].content == long_text and by_source[2].role == "agent"
    tool = by_source[3]
    assert (tool.role, tool.tool_name, tool.tool_arguments) == (
        "tool",
        "get_weather",
        {"city": "北京"},
    )
    assert (by_source[4].device, by_source[4].session, by_source[4].content) == (None, None, "")
    skipped = SkippedRow.objects.get()
    assert skipped.source_id == 5 and "unknown chat_type 9" in skipped.reason
    device = Device.objects.get(mac=MAC)
    assert device.message_count == 4 and device.last_message == "bye"
    assert ChatSession.objects.get(session_id="s1").message_count == 3
    state = SyncState.objects.get()
    assert (state.cursor, state.status, state.rows_read_total) == (6, "success", 6)
    assert not SyncGap.objects.exists()

    again = run_sync(trigger="test")
    assert (again.status, again.rows_read) == ("success", 0)
    assert ChatMessage.objects.count() == 5 and Device.objects.get(mac=MAC).message_count == 4


def test_rows_committed_out_of_order_are_not_lost(esp32):
    """An id taken by a transaction that commits after a later id: `id > last` would lose it."""
    slow = esp32.connect()
    slow_id = esp32.insert(slow, content="slow writer")  # id 1, not committed yet
    fast_id = esp32.write(content="fast writer")  # id 2, committed
    assert fast_id > slow_id

    run_sync(trigger="test")
    assert [m.source_id for m in ChatMessage.objects.all()] == [fast_id]
    assert SyncState.objects.get().cursor == fast_id  # the cursor passed the invisible id...
    assert list(SyncGap.objects.values_list("first_id", "last_id")) == [(slow_id, slow_id)]

    slow.commit()
    slow.close()
    run_sync(trigger="test")  # ...and the gap re-check picks it up
    assert sorted(ChatMessage.objects.values_list("source_id", flat=True)) == [slow_id, fast_id]
    assert not SyncGap.objects.exists()
    assert Device.objects.get().message_count == 2


def test_a_rolled_back_id_is_dropped_after_the_grace_period(esp32, settings):
    aborted = esp32.connect()
    esp32.insert(aborted, content="never committed")
    esp32.write(content="kept")
    aborted.rollback()
    aborted.close()
    run_sync(trigger="test")
    assert SyncGap.objects.count() == 1
    run_sync(trigger="test")
    assert SyncGap.objects.count() == 1  # still within the grace period
    settings.HUB_SYNC_GAP_GRACE = 0
    SyncGap.objects.update(seen_at=datetime(2000, 1, 1, tzinfo=UTC))
    run_sync(trigger="test")
    assert not SyncGap.objects.exists()
    assert ChatMessage.objects.count() == 1


def test_concurrent_writers_committing_out_of_order_while_syncing(esp32, settings):
    """Many writers with random commit delays; syncs run all the while; the copy is exact."""
    import random

    settings.HUB_SYNC_BATCH_SIZE = 7
    stop = threading.Event()
    errors = []

    def writer(n):
        rng = random.Random(n)
        conn = esp32.connect()
        try:
            for i in range(25):
                esp32.insert(
                    conn,
                    mac=f"aa:bb:cc:dd:ee:{n:02d}",
                    session=f"w{n}",
                    chat_type=1 + i % 3 if i % 3 != 2 else 2,
                    content=f"w{n} m{i} ✓",
                )
                threading.Event().wait(rng.random() * 0.02)
                if rng.random() < 0.1:
                    conn.rollback()  # a retried report: the first attempt is aborted
                    esp32.insert(
                        conn,
                        mac=f"aa:bb:cc:dd:ee:{n:02d}",
                        session=f"w{n}",
                        chat_type=2,
                        content=f"w{n} m{i} retry",
                    )
                conn.commit()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            conn.close()

    def syncer():
        from django.db import connections

        try:
            while not stop.is_set():
                run_sync(trigger="test")
        finally:
            connections.close_all()

    writers = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    sync_thread = threading.Thread(target=syncer)
    sync_thread.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    sync_thread.join()
    assert not errors
    run_sync(trigger="test")

    assert hub_rows() == source_as_hub(esp32)
    assert len(hub_rows()) == 150
    assert ChatMessage.objects.values("source_id").distinct().count() == 150
    for device in Device.objects.all():
        assert device.message_count == device.chatmessage_set.count() == 25


def test_one_sync_at_a_time_and_a_second_tick_says_it_skipped(esp32, settings):
    assert claim("esp32", "other-worker:1")
    result = run_sync(trigger="test")
    assert result.status == "skipped"
    assert "already running" in result.error and "other-worker:1" in result.error
    assert SyncRun.objects.get(pk=result.run_id).status == "skipped"

    # A claim older than the timeout belongs to a dead worker: taken over.
    settings.HUB_SYNC_CLAIM_TIMEOUT = 5
    SyncState.objects.update(claimed_at=datetime(2000, 1, 1, tzinfo=UTC))
    esp32.write()
    assert run_sync(trigger="test").status == "success"
    assert ChatMessage.objects.count() == 1


def test_without_a_source_the_sync_only_reports_not_configured(db):
    result = run_sync(trigger="test")
    assert (result.status, result.error) == ("not_configured", "ESP32_DATABASE_URL is not set")
    assert not SyncRun.objects.exists()
