"""The three management commands, on a real source and hub database."""

import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command

from chathistory.models import ChatMessage, SyncRun

pytestmark = pytest.mark.requires_services("mysql")

MAC = "aa:bb:cc:dd:ee:0c"
PLAY_MUSIC = '[{"type": "tool", "text": "play_music({\\"song\\": \\"x\\"})"}]'
# (chat_type, content, created_at) of MAC's messages, all in session "s-cmd".
MESSAGES = [
    (1, '你好, "quoted"\nline 🙂', "2025-01-30 10:00:00.125"),
    (2, "hello back", "2025-02-01 10:00:01.500"),
    (3, PLAY_MUSIC, "2025-02-01 10:00:02.000"),
]


@pytest.fixture
def history(esp32):
    for chat_type, content, created_at in MESSAGES:
        esp32.write(
            mac=MAC, session="s-cmd", chat_type=chat_type, content=content, created_at=created_at
        )
    esp32.write(mac="aa:bb:cc:dd:ee:0d", session="s-other", content="other device")
    return esp32


def run(*args, **options) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def test_sync_command_prints_a_summary_and_records_the_run(history):
    out, err = run("sync_chat_history", "--batch-size", "2")

    assert "success: read 4, written 4, skipped 0 rows" in out and "cursor 4" in out
    assert "row" in err  # the progress bar
    assert ChatMessage.objects.count() == 4
    assert SyncRun.objects.get().trigger == "command"

    out, _ = run("sync_chat_history", "--full", "--no-progress")
    assert "success: read 4, written 4" in out and ChatMessage.objects.count() == 4


def test_sync_command_refuses_bad_options(history):
    with pytest.raises(CommandError, match="--batch-size must be at least 1"):
        run("sync_chat_history", "--batch-size", "0")
    with pytest.raises(CommandError, match="--since must be a date"):
        run("sync_chat_history", "--since", "last tuesday")
    assert not ChatMessage.objects.exists()


def test_export_csv_to_a_file(history, tmp_path):
    run("sync_chat_history", "--no-progress")
    target = tmp_path / "history.csv"

    _, err = run("export_chat_history", "--device", MAC, "--format", "csv", "--output", str(target))

    rows = list(csv.DictReader(target.open(encoding="utf-8", newline="")))
    assert f"exported 3 messages of {MAC}" in err
    assert [r["content"] for r in rows] == [
        '你好, "quoted"\nline 🙂',
        "hello back",
        'play_music({"song": "x"})',
    ]
    assert [r["role"] for r in rows] == ["user", "agent", "tool"]
    assert rows[0]["created_at"] == "2025-01-30T10:00:00.125+00:00"
    assert rows[2]["tool_name"] == "play_music" and json.loads(rows[2]["tool_arguments"]) == {
        "song": "x"
    }
    assert {r["device"] for r in rows} == {MAC} and {r["session_id"] for r in rows} == {"s-cmd"}


def test_export_jsonl_to_stdout_with_since(history, capsys):
    run("sync_chat_history", "--no-progress")

    run("export_chat_history", "--device", MAC, "--format", "jsonl", "--since", "2025-02-01")

    lines = capsys.readouterr().out.splitlines()
    messages = [json.loads(line) for line in lines]
    assert [m["content"] for m in messages] == ["hello back", 'play_music({"song": "x"})']
    assert messages[1]["tool_arguments"] == {"song": "x"}
    assert all(m["device"] == MAC and isinstance(m["id"], int) for m in messages)


def test_export_csv_to_stdout_and_unknown_device(history, capsys):
    run("sync_chat_history", "--no-progress")
    run("export_chat_history", "--device", MAC, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 3 and rows[1]["content"] == "hello back"

    with pytest.raises(CommandError, match="unknown device 'no:such:mac'"):
        run("export_chat_history", "--device", "no:such:mac")


def test_chat_stats(history):
    run("sync_chat_history", "--no-progress")

    out, _ = run("chat_stats")

    assert "messages   4  user 2  agent 1  tool 1" in out
    assert "devices    2" in out and "sessions   2" in out
    assert "sync       success (configured: True), cursor 4, open gaps 0" in out
    busiest = out.split("busiest devices:")[1].split()
    assert busiest[:2] == [MAC, "3"]
