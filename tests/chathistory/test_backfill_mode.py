"""Backfill mode (no look-up of copied rows when none is ahead of the cursor) and the
pipelined bulk statements it relies on: same messages and counters as the incremental path,
exactly once, also across an interruption and a rewind."""

import gc
import weakref

import pytest
from django.db import DataError, connection, transaction

from chathistory import bulk
from chathistory.models import ChatMessage, ChatSession, Device
from chathistory.sync import engine, messages, run_sync

pytestmark = pytest.mark.requires_services("mysql")


def seed(source, count=25):
    for n in range(count):
        source.write(
            mac=f"aa:bb:cc:dd:ee:0{n % 3}",
            session=f"s{n % 4}",
            chat_type=1 + n % 2,
            content=f"message {n}",
        )


def hub_state():
    """What a copy leaves: each message once, and every counter."""
    rows = ChatMessage.objects.order_by("source_id").values_list(
        "source_id", "device__mac", "session__session_id", "role", "content", "created_at"
    )
    devices = Device.objects.order_by("mac").values_list("mac", "message_count", "last_message")
    sessions = ChatSession.objects.order_by("device__mac", "session_id").values_list(
        "device__mac", "session_id", "message_count", "started_at", "last_message_at"
    )
    return list(rows), list(devices), list(sessions)


@pytest.fixture
def lookups(monkeypatch):
    """How many times the sync looked up which rows of a batch were already copied."""
    calls = []
    real = messages._existing

    def counted(source, ids):
        calls.append(len(ids))
        return real(source, ids)

    monkeypatch.setattr(messages, "_existing", counted)
    return calls


def test_backfill_mode_copies_what_the_incremental_path_does_without_lookups(esp32, lookups):
    seed(esp32)
    result = run_sync(trigger="test", batch_size=10, backfill_mode=False)
    assert (result.status, result.rows_written) == ("success", 25)
    assert len(lookups) == 3
    incremental = hub_state()
    ChatMessage.objects.all().delete()
    ChatSession.objects.all().delete()
    Device.objects.all().delete()
    lookups.clear()

    result = run_sync(trigger="test", full=True, batch_size=10)

    assert (result.status, result.rows_written) == ("success", 25)
    assert lookups == []
    assert hub_state() == incremental
    assert len(incremental[0]) == 25
    assert sum(count for _, count, _ in incremental[1]) == 25


def test_a_rewind_over_copied_rows_looks_them_up_and_counts_nothing_twice(esp32, lookups):
    seed(esp32)
    assert run_sync(trigger="test", batch_size=10).rows_written == 25
    assert lookups == []
    before = hub_state()

    result = run_sync(trigger="test", full=True, batch_size=10)

    assert (result.status, result.rows_written) == ("success", 25)
    assert len(lookups) == 3
    assert hub_state() == before


def test_new_rows_after_a_backfill_are_copied_in_backfill_mode_too(esp32, lookups):
    seed(esp32, 5)
    run_sync(trigger="test")
    seed(esp32, 5)

    result = run_sync(trigger="test")

    assert (result.rows_read, result.rows_written) == (5, 5)
    assert lookups == []
    assert ChatMessage.objects.count() == 10
    assert sum(Device.objects.values_list("message_count", flat=True)) == 10


def test_an_interrupted_backfill_resumes_and_copies_each_row_once(esp32, lookups, monkeypatch):
    seed(esp32)
    real = engine.write_messages
    batches = []

    def dies_in_the_second_batch(items, refs, source, **kwargs):
        batches.append(len(items))
        written = real(items, refs, source, **kwargs)
        if len(batches) == 2:
            raise RuntimeError("worker lost mid-batch")
        return written

    monkeypatch.setattr(engine, "write_messages", dies_in_the_second_batch)
    failed = run_sync(trigger="test", batch_size=10)
    assert failed.status == "failed" and failed.cursor == 10
    assert ChatMessage.objects.count() == 10  # the second batch rolled back
    monkeypatch.setattr(engine, "write_messages", real)

    result = run_sync(trigger="test", batch_size=10)

    assert (result.status, result.rows_written) == ("success", 15)
    assert lookups == []
    rows, devices, sessions = hub_state()
    assert [row[0] for row in rows] == list(range(1, 26))
    assert sum(count for _, count, _ in devices) == 25
    assert sum(count for _, _, count, _, _ in sessions) == 25


def test_the_collector_is_back_after_a_run_that_failed(esp32, monkeypatch):
    seed(esp32, 3)
    frozen = []

    def fails(*args, **kwargs):
        frozen.append(gc.get_freeze_count())
        frozen.append(gc.isenabled())
        raise RuntimeError("boom")

    monkeypatch.setattr(engine, "write_messages", fails)
    assert run_sync(trigger="test").status == "failed"
    assert frozen[0] > 0 and frozen[1] is False  # while the batches were written
    assert gc.get_freeze_count() == 0 and gc.isenabled()


# --- the pipelined statements (chathistory/bulk.py) ---------------------------------------


def devices(*macs):
    return [(mac, "", "", "", "", 0) for mac in macs]


DEVICE_COLUMNS = ["mac", "alias", "board", "firmware", "last_message", "message_count"]


@pytest.mark.django_db(transaction=True)
def test_many_statements_in_flight_one_after_the_other(monkeypatch):
    monkeypatch.setattr(bulk, "MAX_STATEMENT_BYTES", 64)  # one row a statement
    macs = [f"dev-{n:03d}" for n in range(200)]
    with transaction.atomic():
        bulk.upsert(
            Device._meta.db_table, DEVICE_COLUMNS, (row for row in devices(*macs)), key=["mac"]
        )
    assert sorted(Device.objects.values_list("mac", flat=True)) == macs


@pytest.mark.django_db(transaction=True)
def test_a_later_statement_refused_raises_and_the_connection_stays_usable(monkeypatch):
    monkeypatch.setattr(bulk, "MAX_STATEMENT_BYTES", 64)
    rows = devices("dev-1", "dev-2", "x" * 60, "dev-4")  # mac is VARCHAR(50): refused
    with pytest.raises(DataError), transaction.atomic():
        bulk.upsert(Device._meta.db_table, DEVICE_COLUMNS, rows, key=["mac"])
    assert Device.objects.count() == 0  # the transaction rolled back, the connection works
    bulk.upsert(Device._meta.db_table, DEVICE_COLUMNS, devices("dev-5"), key=["mac"])
    assert list(Device.objects.values_list("mac", flat=True)) == ["dev-5"]


@pytest.mark.django_db(transaction=True)
def test_a_rendering_error_waits_for_the_statement_in_flight(monkeypatch):
    monkeypatch.setattr(bulk, "MAX_STATEMENT_BYTES", 64)
    rows = [*devices("dev-1", "dev-2"), ("dev-3", "", "", "", "", object())]
    with pytest.raises(TypeError), transaction.atomic():
        bulk.upsert(Device._meta.db_table, DEVICE_COLUMNS, rows, key=["mac"])
    with connection.cursor() as cursor:  # not "commands out of sync"
        cursor.execute("SELECT COUNT(*) FROM chathistory_device")
        assert cursor.fetchone() == (0,)


def test_cycles_a_batch_leaves_are_collected_before_the_next_batch(esp32, monkeypatch):
    seed(esp32, 30)
    real = engine.write_messages
    cycles, alive = [], []

    class Node:
        pass

    def leaves_a_cycle(items, refs, source, **kwargs):
        alive.append(sum(cycle() is not None for cycle in cycles))
        node = Node()
        node.itself = node
        cycles.append(weakref.ref(node))
        return real(items, refs, source, **kwargs)

    monkeypatch.setattr(engine, "write_messages", leaves_a_cycle)
    assert run_sync(trigger="test", batch_size=10).rows_written == 30
    assert alive == [0, 0, 0]  # the automatic collector is off, the per-batch one is not
