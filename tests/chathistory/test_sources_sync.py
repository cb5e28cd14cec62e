"""Two xiaozhi-esp32-server databases in one hub (docs/sources.md), against real MariaDB.

The environment's source ("esp32", ESP32_DATABASE_URL) and a Source row "lab" hold
the same MACs, session ids and agent ids: they must stay two devices, two sets of
sessions and agents, with their own counters, cursors, claims and runs.
"""

from __future__ import annotations

import pytest
from django.db import connections

from chathistory import selectors
from chathistory.models import (
    DEFAULT_SOURCE,
    Agent,
    ChatMessage,
    ChatSession,
    Device,
    Source,
    SyncRun,
    SyncState,
)
from chathistory.source_services import source_ensure_environment, source_update
from chathistory.sources.registry import alias_name
from chathistory.sync import runs
from chathistory.sync.dispatch import run_source_sync

pytestmark = pytest.mark.requires_services("mysql")

MAC_A, MAC_B = "aa:bb:cc:dd:ee:01", "aa:bb:cc:dd:ee:02"


def fill(database, prefix: str, count: int, *, start: int = 0) -> None:
    """`count` messages alternating between the two shared MACs, in shared session ids."""
    for i in range(start, start + count):
        mac = MAC_A if i % 2 == 0 else MAC_B
        database.write(
            mac=mac,
            agent="agent1",
            session=f"s{i % 3}",
            chat_type=1 + i % 2,
            content=f"{prefix} {i}",
        )


def both(environment_rows: int = 0, lab_rows: int = 0, *, esp32, lab):
    fill(esp32, "esp", environment_rows)
    fill(lab, "lab", lab_rows)


def sources() -> tuple[Source, Source]:
    return source_ensure_environment(), Source.objects.get(key="lab")


def contents(source: str) -> list[str]:
    return sorted(ChatMessage.objects.filter(source=source).values_list("content", flat=True))


def test_overlapping_macs_sessions_and_agents_never_mix(esp32, lab, staff_client):
    both(7, 5, esp32=esp32, lab=lab)
    environment, lab_source = sources()

    assert run_source_sync(environment, trigger="test").status == "success"
    assert run_source_sync(lab_source, trigger="test").status == "success"

    # Devices are (source, mac): the same MAC twice, each with its own counters.
    devices = {(d.source, d.mac): d for d in Device.objects.all()}
    assert set(devices) == {(s, m) for s in ("esp32", "lab") for m in (MAC_A, MAC_B)}
    assert devices[("esp32", MAC_A)].message_count == 4
    assert devices[("lab", MAC_A)].message_count == 3
    assert devices[("lab", MAC_B)].message_count == 2
    # Agents per source, sessions per device of the source.
    assert sorted(Agent.objects.values_list("source", "agent_id")) == [
        ("esp32", "agent1"),
        ("lab", "agent1"),
    ]
    for session in ChatSession.objects.select_related("device", "agent"):
        assert session.device.source == session.source == session.agent.source
        own = ChatMessage.objects.filter(session=session)
        assert set(own.values_list("source", flat=True)) == {session.source}
        assert session.message_count == own.count()
    for message in ChatMessage.objects.select_related("device", "agent", "session"):
        assert message.device.source == message.agent.source == message.source
        assert message.session.source == message.source
    assert contents("esp32") == sorted(f"esp {i}" for i in range(7))
    assert contents("lab") == sorted(f"lab {i}" for i in range(5))
    # Source ids overlap (both start at 1): each source keeps its own.
    assert set(ChatMessage.objects.filter(source="lab").values_list("source_id", flat=True)) == {
        1,
        2,
        3,
        4,
        5,
    }

    # Cursors and states are per source.
    states = dict(SyncState.objects.values_list("source", "cursor"))
    assert states == {"esp32": 7, "lab": 5}

    # Search and filters by source.
    found = selectors.message_queryset(search="lab", source="lab")
    assert found.count() == 5
    assert selectors.message_queryset(search="lab", source="esp32").count() == 0
    assert selectors.device_queryset(source="lab").count() == 2

    # REST: the device list filtered, the older route by MAC needs a source now.
    listed = staff_client.get("/api/v2/devices", {"source": "lab"}).json()["results"]
    assert {(d["source"], d["mac"]) for d in listed} == {("lab", MAC_A), ("lab", MAC_B)}
    ambiguous = staff_client.get(f"/api/v2/chat-history/{MAC_A}")
    assert ambiguous.status_code == 400
    assert "several sources" in ambiguous.json()["source"][0]
    named = staff_client.get(f"/api/v2/chat-history/{MAC_A}", {"source": "lab"})
    assert named.status_code == 200
    body = named.json()
    assert body["device"]["source"] == "lab"
    texts = [m["content"] for s in body["sessions"] for m in s["messages"]]
    assert sorted(texts) == ["lab 0", "lab 2", "lab 4"]
    assert all(m["source"] == "lab" for s in body["sessions"] for m in s["messages"])
    assert staff_client.get(f"/api/v2/chat-history/{MAC_A}", {"source": "nope"}).status_code == 404
    messages = staff_client.get("/api/v2/messages", {"q": "esp", "source": "esp32"}).json()
    assert len(messages["results"]) == 7
    assert {m["source"] for m in messages["results"]} == {"esp32"}

    # Exports carry the source column and filter by it.
    export = staff_client.get("/api/v2/messages/export", {"format": "jsonl", "source": "lab"})
    lines = b"".join(export.streaming_content).decode().splitlines()
    assert len(lines) == 5 and all('"source": "lab"' in line for line in lines)
    csv = staff_client.get("/api/v2/messages/export", {"format": "csv"})
    text = b"".join(csv.streaming_content).decode("utf-8-sig").splitlines()
    assert "source" in text[0].split(",") and len(text) == 13

    # The sync status has one entry per source.
    status = staff_client.get("/api/v2/sync/status").json()
    assert {s["source"]: s["cursor"] for s in status["sources"]} == {"esp32": 7, "lab": 5}
    assert staff_client.get("/api/v2/sync/status", {"source": "lab"}).json()["messages"] == 5


def test_a_run_interrupted_midway_leaves_the_other_source_alone_and_resumes(esp32, lab):
    both(6, 25, esp32=esp32, lab=lab)
    environment, lab_source = sources()
    assert run_source_sync(environment, trigger="test").status == "success"
    environment_state = SyncState.objects.get(source="esp32")

    batches = []

    def crash_after_two(progress):
        batches.append(progress)
        if len(batches) == 2:
            raise RuntimeError("worker killed midway")

    failed = run_source_sync(lab_source, trigger="test", batch_size=5, on_batch=crash_after_two)

    assert failed.status == "failed" and "worker killed midway" in failed.error
    lab_state = SyncState.objects.get(source="lab")
    assert lab_state.cursor == 10  # two committed batches, no more
    assert lab_state.claimed_by == "" and lab_state.status == "failed"
    assert ChatMessage.objects.filter(source="lab").count() == 10
    # The other source: untouched state, and it syncs while lab is broken.
    assert SyncState.objects.get(source="esp32").cursor == environment_state.cursor == 6
    fill(esp32, "esp", 2, start=6)
    assert run_source_sync(environment, trigger="test").rows_written == 2

    # Lab's claim held by another run does not block the environment's source.
    held = runs.start("lab", trigger="test", full=False)
    assert held is not None
    fill(esp32, "esp", 1, start=8)
    assert run_source_sync(environment, trigger="test").status == "success"
    assert run_source_sync(lab_source, trigger="test").status == "skipped"
    runs.finish(held, runs.SyncResult(status="failed", error="stopped by the test"))

    resumed = run_source_sync(lab_source, trigger="test", batch_size=5)
    assert resumed.status == "success" and resumed.rows_read == 15
    assert SyncState.objects.get(source="lab").cursor == 25
    ids = list(ChatMessage.objects.filter(source="lab").values_list("source_id", flat=True))
    assert sorted(ids) == list(range(1, 26)), "no row lost, none twice"
    assert contents("lab") == sorted(f"lab {i}" for i in range(25))
    assert contents("esp32") == sorted(f"esp {i}" for i in range(9))
    lab_devices = Device.objects.filter(source="lab")
    assert sum(lab_devices.values_list("message_count", flat=True)) == 25
    runs_by_source = SyncRun.objects.filter(source="lab").values_list("status", flat=True)
    assert sorted(runs_by_source) == ["failed", "failed", "skipped", "success"]


def test_a_reports_twin_in_another_source_is_not_paired_with_it(esp32, lab, settings):
    """A report belongs to the environment's server: lab's row with the same MAC, session
    and text is lab's own message, not the report's."""
    from datetime import UTC, datetime

    from chathistory.services import chat_report_ingest
    from chathistory.sources.report import ChatReport

    now = datetime.now(UTC)
    report = ChatReport(
        mac=MAC_A,
        session_id="s0",
        chat_type=1,
        content="same words",
        report_time_ms=int(now.timestamp() * 1000),
        audio=None,
    )
    reported, created = chat_report_ingest(report=report)
    assert created and reported.source == DEFAULT_SOURCE
    lab.write(mac=MAC_A, agent="agent1", session="s0", chat_type=1, content="same words")
    _, lab_source = sources()

    assert run_source_sync(lab_source, trigger="test").rows_written == 1

    reported.refresh_from_db()
    assert reported.source_id is None and reported.source == "esp32"
    copy = ChatMessage.objects.get(source="lab")
    assert copy.content == "same words" and copy.device.source == "lab"


def test_a_changed_url_re_registers_the_alias(esp32, lab, second_source_database):
    _, lab_source = sources()
    fill(lab, "lab", 1)
    assert run_source_sync(lab_source, trigger="test").status == "success"
    alias = alias_name("lab")
    assert connections.settings[alias]["NAME"] == second_source_database.name
    assert "READ ONLY" in connections.settings[alias]["OPTIONS"]["init_command"]

    # Pointed at the environment's database: the next run reads there.
    source_update(source=lab_source, url=esp32.url)
    fill(esp32, "esp", 3)
    result = run_source_sync(Source.objects.get(key="lab"), trigger="test")
    assert result.status == "success"
    assert connections.settings[alias]["NAME"] == esp32.name
    # The cursor (1) is lab's: ids 2 and 3 of the other database are read.
    assert result.rows_read == 2


def test_the_source_connection_is_read_only(esp32, lab):
    from django.db import OperationalError

    _, lab_source = sources()
    fill(lab, "lab", 1)
    run_source_sync(lab_source, trigger="test")
    with pytest.raises(OperationalError), connections[alias_name("lab")].cursor() as cursor:
        cursor.execute("DELETE FROM ai_agent_chat_history")
    assert len(lab.rows()) == 1


def test_a_source_without_url_or_with_a_dead_server_fails_alone(esp32, lab):
    from tests.services import free_port

    environment, _ = sources()
    broken = Source.objects.create(
        key="gone", url=f"mysql://root@127.0.0.1:{free_port()}/xiaozhi_esp32_server"
    )
    fill(esp32, "esp", 2)
    assert run_source_sync(broken, trigger="test").status == "failed"
    assert run_source_sync(environment, trigger="test").rows_written == 2
    empty = Source(key="empty")
    assert run_source_sync(empty, trigger="test").status == "not_configured"
