"""Reports posted to daphne while the sync runs: none fails, each message is stored once.

The production meeting of the two write paths: the xiaozhi core reports every
message to the hub (HTTP, served by daphne) and manager-api inserts the same
message into the source, which the sync copies (and links to the report) in
batches, every few seconds and on demand. Both paths lock device, session and
message rows; the report must never be answered 5xx because of the sync.
"""

import json
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from django.db.models import Count

from chathistory.models import ChatMessage, ChatSession, Device
from chathistory.sync import run_sync
from tests.services import (
    bin_path,
    documented_commands,
    hub_database_url,
    hub_env,
    start_listening,
    stop,
)

pytestmark = pytest.mark.requires_services("mysql")

SECRET = "concurrency-report-secret"
DEVICES = 8
REPORTS_PER_DEVICE = 40  # 320 reports in all
MESSAGES_PER_SESSION = 8
AGENT = "agent-concurrency"


def mac_of(device: int) -> str:
    return f"aa:bb:cc:00:00:{device:02x}"


@pytest.fixture
def hub_on_daphne(process_log_dir):
    """daphne serving the hub on the test database, as in production; yields its port."""
    env = hub_env(
        DATABASE_URL=hub_database_url(),
        HUB_REPORT_SECRET=SECRET,
        HUB_DATA_DIR=str(process_log_dir),
        ALLOWED_HOSTS="127.0.0.1",
    )
    line = documented_commands()["daphne"].replace("-b 0.0.0.0 -p 8000", "-b 127.0.0.1 -p {}")

    def command(port: int) -> list[str]:
        args = line.format(port).split()
        return [bin_path(args[0]), *args[1:]]

    process, port = start_listening(command, env, process_log_dir / "daphne.log")
    try:
        yield port
    finally:
        stop(process)


def post_report(port: int, body: dict) -> tuple[int, str]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/xiaozhi/agent/chat-history/report",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {SECRET}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def seed_devices(esp32) -> None:
    """The source's agent and devices, so reports and synced rows carry the agent too."""
    esp32.execute(
        "INSERT INTO ai_agent (id, agent_name, created_at) VALUES (%s, 'Concurrency', NOW())",
        [AGENT],
    )
    for device in range(DEVICES):
        esp32.execute(
            "INSERT INTO ai_device (id, mac_address, agent_id, create_date) "
            "VALUES (%s, %s, %s, NOW())",
            [f"dev{device}", mac_of(device), AGENT],
        )


def converse(esp32, port: int, device: int) -> list[tuple[int, str]]:
    """One device's conversation: each message reported to the hub and written to the source.

    Half are written to the source first (the sync may copy them before the report
    arrives), half reported first (the sync then links the source row to the report).
    """
    mac = mac_of(device)
    answers = []
    conn = esp32.connect()
    try:
        for i in range(REPORTS_PER_DEVICE):
            millis = int(time.time() * 1000)
            created = datetime.fromtimestamp(millis / 1000, UTC).replace(tzinfo=None)
            row = {
                "mac": mac,
                "agent": AGENT,
                "session": f"{mac}-s{i // MESSAGES_PER_SESSION}",
                "chat_type": 1 + i % 2,
                "content": f"{mac} message {i}",
                "created_at": created.isoformat(" ", "milliseconds"),
            }
            body = {
                "macAddress": mac,
                "sessionId": row["session"],
                "chatType": row["chat_type"],
                "content": row["content"],
                "reportTime": millis,
            }
            if i % 2:
                esp32.insert(conn, **row)
                conn.commit()
                answers.append(post_report(port, body))
            else:
                answers.append(post_report(port, body))
                esp32.insert(conn, **row)
                conn.commit()
    finally:
        conn.close()
    return answers


def sync_until(stop_event: threading.Event) -> list[str]:
    """Scheduled runs back to back in small batches, with a manual per-device sync now and then."""
    outcomes = []
    turn = 0
    while not stop_event.is_set():
        outcomes.append(run_sync(trigger="beat", batch_size=10))
        if turn % 3 == 2:
            device = mac_of(turn % DEVICES)
            outcomes.append(run_sync(trigger="manual", batch_size=10, device=device))
        turn += 1
    return [f"{r.status}: {r.error}" if r.error else r.status for r in outcomes]


def test_reports_never_fail_while_the_sync_runs(esp32, hub_on_daphne):
    seed_devices(esp32)
    run_sync(trigger="test")  # the devices and their agent exist before the first report
    stop_syncing = threading.Event()
    with ThreadPoolExecutor(max_workers=DEVICES + 1) as pool:
        syncing = pool.submit(sync_until, stop_syncing)
        conversations = [
            pool.submit(converse, esp32, hub_on_daphne, device) for device in range(DEVICES)
        ]
        try:
            answers = [answer for c in conversations for answer in c.result(timeout=120)]
        finally:
            stop_syncing.set()
        sync_outcomes = syncing.result(timeout=120)
    assert run_sync(trigger="test").status == "success"  # copies what is left

    failed = [a for a in answers if a[0] != 200]
    assert len(answers) == DEVICES * REPORTS_PER_DEVICE
    assert not failed, f"{len(failed)} of {len(answers)} reports failed: {Counter(failed)}"
    unexpected = Counter(o for o in sync_outcomes if o not in {"success", "skipped"})
    assert not unexpected, f"sync runs that did not succeed: {unexpected}"

    # Every message exactly once: its report and its source row paired on one message.
    messages = list(ChatMessage.objects.values_list("content", "report_key", "source_id"))
    assert len(messages) == DEVICES * REPORTS_PER_DEVICE
    assert len({content for content, _, _ in messages}) == len(messages)
    assert len({key for _, key, _ in messages if key}) == len(messages)
    assert sorted(source_id for _, _, source_id in messages) == list(range(1, len(messages) + 1))

    # The counters agree with the messages stored.
    per_device = dict(
        ChatMessage.objects.values_list("device__mac").annotate(n=Count("id")).order_by()
    )
    assert dict(Device.objects.values_list("mac", "message_count")) == per_device
    per_session = dict(
        ChatMessage.objects.values_list("session_id").annotate(n=Count("id")).order_by()
    )
    assert dict(ChatSession.objects.values_list("id", "message_count")) == per_session
    assert set(per_session.values()) == {MESSAGES_PER_SESSION}
