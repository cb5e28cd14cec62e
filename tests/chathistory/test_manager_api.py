"""The manager-api REST source against a local manager-api (manager_api_server.py).

Full copy, incremental copy of grown sessions, the identity of messages that have
no source id (repeated syncs, interruptions, identical messages), a refused
token, one failing session skipped and retried, slow answers, 429 with
Retry-After. The hub's database is the real MariaDB.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from chathistory.models import (
    Agent,
    ChatMessage,
    ChatSession,
    Device,
    RemoteSession,
    SkippedRow,
    Source,
    SourceKind,
    SyncRun,
    SyncState,
)
from chathistory.sources.manager_api import ManagerApiClient, ManagerApiError, TokenRejected
from chathistory.sync.manager_api import message_source_id, run_manager_api_sync

from .manager_api_server import ManagerApiServer, Message

pytestmark = pytest.mark.requires_services("mysql")

T0 = datetime(2026, 5, 1, 9, 0, 0)  # GMT+8 wall time, as manager-api prints it
MAC_A, MAC_B = "aa:bb:cc:00:00:01", "aa:bb:cc:00:00:02"


@pytest.fixture
def api():
    with ManagerApiServer() as server:
        yield server


@pytest.fixture
def source(api, transactional_db):
    return Source.objects.create(
        key="lab", name="Lab", kind=SourceKind.MANAGER_API, url=api.url, token="good-token"
    )


class Sleeps(list):
    """The client's pauses, recorded instead of slept (what it decided to wait)."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def sync(source: Source, *, trigger="test", sleeps=None, timeout=None, retries=None, **kwargs):
    client = ManagerApiClient.for_source(
        source, sleep=sleeps if sleeps is not None else Sleeps(), timeout=timeout, retries=retries
    )
    try:
        return run_manager_api_sync(source, trigger=trigger, client=client, **kwargs)
    finally:
        client.close()


def seed(api: ManagerApiServer) -> None:
    """Two agents, three sessions, user/agent/tool messages; agent 2's session has a title."""
    api.add_agent("a1", "Lab assistant")
    api.add_agent("a2", "Kitchen 小智")
    for i in range(6):
        api.add_message(
            "a1", "s1", Message(T0 + timedelta(seconds=i), 1 + i % 2, f"s1 m{i}", MAC_A)
        )
    api.add_message(
        "a1",
        "s2",
        Message(T0 + timedelta(minutes=5), 1, '{"speaker": "Ann", "content": "hi"}', MAC_A),
    )
    api.add_message(
        "a1", "s2", Message(T0 + timedelta(minutes=5, seconds=1), 2, "hello Ann", MAC_A)
    )
    for i in range(4):
        api.add_message(
            "a2", "s3", Message(T0 + timedelta(hours=1, seconds=i), 1 + i % 2, f"你好 {i}", MAC_B)
        )
    api.titles["s3"] = "问候"


def server_messages(api: ManagerApiServer) -> Counter:
    return Counter(
        (sid, m.content if m.chat_type != 1 or not m.content.startswith("{") else "hi", m.chat_type)
        for (_aid, sid), messages in api.history.items()
        for m in messages
    )


def hub_messages() -> Counter:
    rows = ChatMessage.objects.filter(source="lab").values_list(
        "session__session_id", "content", "chat_type"
    )
    return Counter(rows)


def test_full_copy(api, source):
    seed(api)
    result = sync(source)
    assert (result.status, result.error) == ("success", "")
    assert (result.rows_read, result.rows_written, result.rows_skipped) == (12, 12, 0)
    assert hub_messages() == server_messages(api)
    # Agents with their names, devices and sessions of this source only.
    assert dict(Agent.objects.filter(source="lab").values_list("agent_id", "name")) == {
        "a1": "Lab assistant",
        "a2": "Kitchen 小智",
    }
    assert set(Device.objects.filter(source="lab").values_list("mac", flat=True)) == {MAC_A, MAC_B}
    sessions = {s.session_id: s for s in ChatSession.objects.filter(source="lab")}
    assert sessions["s3"].title == "问候"
    assert (sessions["s1"].message_count, sessions["s3"].message_count) == (6, 4)
    assert sessions["s3"].agent.agent_id == "a2"
    # Times: GMT+8 wall time -> UTC.
    first = ChatMessage.objects.get(source="lab", content="s1 m0")
    assert first.created_at == datetime(2026, 5, 1, 1, 0, 0, tzinfo=UTC)
    speaker = ChatMessage.objects.get(source="lab", session__session_id="s2", chat_type=1)
    assert (speaker.content, speaker.speaker) == ("hi", "Ann")
    state = SyncState.objects.get(source="lab")
    assert (state.status, state.last_error, state.rows_written_total) == ("success", "", 12)
    assert RemoteSession.objects.filter(source="lab", failures=0).count() == 3


def test_repeated_syncs_copy_nothing_twice_and_fetch_only_what_changed(api, source):
    seed(api)
    sync(source)
    fetched = len(api.calls("/chat-history/"))
    again = sync(source)
    assert (again.status, again.rows_read, again.rows_written) == ("success", 0, 0)
    assert len(api.calls("/chat-history/")) == fetched  # nothing changed: no session fetched
    full = sync(source, full=True)  # everything read again, nothing duplicated
    assert (full.status, full.rows_read) == ("success", 12)
    assert ChatMessage.objects.filter(source="lab").count() == 12
    assert hub_messages() == server_messages(api)


def test_grown_session_is_fetched_alone_and_only_its_new_messages_count(api, source):
    seed(api)
    sync(source)
    api.add_message("a1", "s1", Message(T0 + timedelta(minutes=30), 1, "s1 later", MAC_A))
    api.add_message("a1", "s1", Message(T0 + timedelta(minutes=30), 1, "s1 later", MAC_A))
    api.add_message("a2", "s4", Message(T0 + timedelta(hours=2), 1, "new session", MAC_B))
    before = len(api.requests)
    result = sync(source)
    fetched = [path for _t, _m, path, _tok in api.requests[before:] if "/chat-history/" in path]
    assert sorted(fetched) == [
        "/xiaozhi/agent/a1/chat-history/s1",
        "/xiaozhi/agent/a2/chat-history/s4",
    ]
    # s1 read whole, only its two new messages written; s4 is new.
    assert (result.rows_read, result.rows_written) == (9, 3)
    assert ChatMessage.objects.filter(source="lab").count() == 15
    assert hub_messages() == server_messages(api)
    s1 = ChatSession.objects.get(source="lab", session_id="s1")
    assert s1.message_count == 8  # the counters saw only the two new ones


def test_identical_messages_in_one_session_are_two_messages(api, source):
    api.add_agent("a1", "A")
    for _ in range(2):  # same second, same type, same text: two rows on the server
        api.add_message("a1", "s1", Message(T0, 1, "ok", MAC_A))
    api.add_message("a1", "s1", Message(T0 + timedelta(seconds=1), 2, "ok", MAC_A))
    sync(source)
    assert ChatMessage.objects.filter(source="lab", content="ok").count() == 3
    sync(source, full=True)
    sync(source)
    assert ChatMessage.objects.filter(source="lab", content="ok").count() == 3
    # The session goes on in its last second: the twin of its last message is a new one.
    api.add_message("a1", "s1", Message(T0 + timedelta(seconds=1), 2, "ok", MAC_A))
    sync(source)
    assert ChatMessage.objects.filter(source="lab", content="ok", chat_type=2).count() == 2
    assert ChatSession.objects.get(source="lab", session_id="s1").message_count == 4


def test_message_identity():
    base = dict(agent_id="a", session_id="s", created_at="2026-05-01 09:00:00", chat_type="1")
    first = message_source_id(**base, content="ok", occurrence=0)
    assert first == message_source_id(**base, content="ok", occurrence=0)  # stable
    assert 0 <= first < 2**63
    others = {
        message_source_id(**base, content="ok", occurrence=1),
        message_source_id(**base, content="ok ", occurrence=0),
        message_source_id(**{**base, "session_id": "s2"}, content="ok", occurrence=0),
        message_source_id(**{**base, "chat_type": "2"}, content="ok", occurrence=0),
    }
    assert first not in others and len(others) == 4


def test_interrupted_run_resumes_without_loss_or_duplicates(api, source):
    api.add_agent("a1", "A")
    for s in range(10):
        for i in range(5):
            api.add_message(
                "a1", f"s{s}", Message(T0 + timedelta(minutes=s, seconds=i), 1, f"m{i}", MAC_A)
            )
    batches = []

    def crash(progress):
        batches.append(progress)
        if len(batches) == 2:
            raise RuntimeError("worker killed")

    failed = sync(source, batch_size=10, on_batch=crash)
    assert failed.status == "failed" and "worker killed" in failed.error
    copied = ChatMessage.objects.filter(source="lab").count()
    assert 0 < copied < 50
    done = sync(source, batch_size=10)
    assert done.status == "success"
    assert ChatMessage.objects.filter(source="lab").count() == 50
    assert hub_messages() == server_messages(api)
    assert ChatSession.objects.get(source="lab", session_id="s3").message_count == 5


def test_refused_token_fails_clearly_and_is_not_retried_until_changed(api, source):
    seed(api)
    assert sync(source, trigger="beat").status == "success"
    api.expire("good-token")
    api.add_message("a1", "s1", Message(T0 + timedelta(hours=3), 1, "after expiry", MAC_A))
    failed = sync(source, trigger="beat")
    assert failed.status == "failed"
    assert failed.error.startswith("the manager-api rejected the token: 未授权")
    state = SyncState.objects.get(source="lab")
    assert state.status == "failed" and "rejected the token" in state.last_error
    assert "good-token" not in state.last_error and "good-token" not in str(state.metadata)
    before, runs = len(api.requests), SyncRun.objects.count()
    for automatic in ("beat", "retry"):  # the tick, and the task's retry of the failed run
        held = sync(source, trigger=automatic)
        assert held.status == "not_configured" and "waits for a new one" in held.error
    assert len(api.requests) == before and SyncRun.objects.count() == runs  # left alone
    manual = sync(source, trigger="manual")  # an operator's run still tries
    assert manual.status == "failed" and len(api.requests) == before + 1
    api.tokens.add("new-token")
    source.token = "new-token"
    source.save()
    assert sync(Source.objects.get(pk=source.pk), trigger="beat").status == "success"
    assert ChatMessage.objects.filter(source="lab", content="after expiry").exists()
    assert "token_rejected" not in SyncState.objects.get(source="lab").metadata


def test_missing_token_header_is_a_refusal(api, source):
    seed(api)
    for token in ("", "   "):
        with (
            ManagerApiClient(api.url, token) as client,
            pytest.raises(TokenRejected, match="未授权"),
        ):
            client.agents()
    assert [call[3] for call in api.requests] == ["", ""]
    with ManagerApiClient(api.url, "bad\ntoken") as client, pytest.raises(ManagerApiError):
        client.agents()  # refused before it is sent: never retried


@pytest.mark.parametrize(
    "fault",
    [
        ("status", 500),  # an HTML error page from the server or its proxy
        ("body", "{not json"),  # a truncated or broken answer
        ("body", '{"code": 0, "msg": "success", "data": "not a list"}'),
        ("body", '{"code": 0, "msg": "success", "data": [1, 2]}'),  # broken rows
        ("result", (500, "No permission to view the chat records of this agent")),
    ],
)
def test_one_bad_session_is_skipped_recorded_and_retried_later(api, source, fault):
    seed(api)
    kind, value = fault
    pattern = r"/chat-history/s1$"
    if kind == "status":
        api.fail(pattern, value, times=100)
    elif kind == "body":
        api.faults.bodies[pattern] = value
    else:
        api.faults.results[pattern] = value
    result = sync(source, retries=1)
    assert result.status == "success"
    assert "1 session(s) could not be read" in result.error
    assert hub_messages() == server_messages(api) - Counter(
        {k: v for k, v in server_messages(api).items() if k[0] == "s1"}
    )
    failed = RemoteSession.objects.get(source="lab", session_id="s1")
    assert failed.failures == 1 and failed.last_error and failed.next_retry_at > timezone.now()
    # Not due yet: the next run leaves it alone.
    before = len(api.calls(pattern))
    sync(source, retries=1)
    assert len(api.calls(pattern)) == before
    # The server recovers and the retry is due: copied, the failure forgotten.
    api.faults.statuses.clear()
    api.faults.bodies.clear()
    api.faults.results.clear()
    RemoteSession.objects.filter(pk=failed.pk).update(next_retry_at=timezone.now())
    again = sync(source)
    assert (again.status, again.error) == ("success", "")
    assert hub_messages() == server_messages(api)
    assert RemoteSession.objects.get(pk=failed.pk).failures == 0


def test_rows_that_cannot_be_copied_are_recorded_once(api, source):
    api.add_agent("a1", "A")
    api.add_message("a1", "s1", Message(T0, 1, "fine", MAC_A))
    api.add_message("a1", "s1", Message(T0, 9, "unknown type", MAC_A))
    result = sync(source)
    assert (result.status, result.rows_written, result.rows_skipped) == ("success", 1, 1)
    skipped = SkippedRow.objects.get(source="lab")
    assert "chat_type" in skipped.reason
    sync(source, full=True)
    assert SkippedRow.objects.filter(source="lab").count() == 1


def test_slow_session_times_out_and_the_others_are_copied(api, source):
    seed(api)
    api.faults.delays[r"/chat-history/s2$"] = 3
    result = sync(source, timeout=0.5, retries=0)
    assert result.status == "success" and "timed out" in result.error
    assert not ChatMessage.objects.filter(source="lab", session__session_id="s2").exists()
    assert ChatMessage.objects.filter(source="lab").count() == 10
    assert "timed out after 0.5 s" in RemoteSession.objects.get(session_id="s2").last_error


def test_429_retry_after_is_honoured(api, source):
    seed(api)
    api.fail(r"/agent/list$", 429, times=1, retry_after=2)
    api.fail(r"/sessions$", 503, times=2)
    sleeps = Sleeps()
    result = sync(source, sleeps=sleeps)
    assert result.status == "success" and ChatMessage.objects.filter(source="lab").count() == 12
    assert sleeps[0] == 2.0  # the server's Retry-After
    assert len(sleeps) == 3 and all(0 <= s <= 30 for s in sleeps[1:])  # jittered, bounded


def test_a_long_retry_after_fails_the_run_and_holds_the_beat_back(api, source):
    seed(api)
    api.fail(r"/agent/list$", 429, times=1, retry_after=3600)
    sleeps = Sleeps()
    result = sync(source, sleeps=sleeps, trigger="beat")
    assert result.status == "failed" and "asked the hub to wait" in result.error
    assert sleeps == []  # it did not sit in the worker for an hour
    before = len(api.requests)
    held = sync(source, trigger="beat")
    assert held.status == "not_configured" and "wait until" in held.error
    assert len(api.requests) == before
    assert sync(source, trigger="manual").status == "success"


def test_retries_are_bounded(api, source):
    seed(api)
    api.fail(r"/agent/list$", 503, times=100)
    sleeps = Sleeps()
    result = sync(source, sleeps=sleeps, retries=3)
    assert result.status == "failed" and "HTTP 503" in result.error and "4 tries" in result.error
    assert len(sleeps) == 3 and len(api.calls(r"/agent/list$")) == 4


def test_hostile_answers(api, source):
    """Ids that would escape the path, oversized ids, odd types: nothing breaks the run."""
    api.add_agent("a1", "A")
    api.add_message("a1", "../../user/login", Message(T0, 1, "traversal", MAC_A))
    api.add_message("a1", "x" * 80, Message(T0, 1, "too long", MAC_A))
    api.add_message("a1", "s1", Message(T0, 1, "x" * 5000, "not a mac " * 20))
    result = sync(source)
    assert result.status == "success"
    # The id went to the server escaped, as one path segment (Tomcat refuses it: HTTP 400).
    assert api.calls(r"/chat-history/\.\.%2F\.\.%2Fuser%2Flogin$")
    assert not api.calls(r"/user/login$")
    assert "HTTP 400" in RemoteSession.objects.get(session_id="../../user/login").last_error
    assert "longer than 50" in RemoteSession.objects.get(session_id="x" * 80).last_error
    long = ChatMessage.objects.get(source="lab", session__session_id="s1")
    assert long.device_id is None  # an unusable device identifier is dropped, not stored


def test_agent_list_that_is_not_manager_api_fails_the_run(api, source):
    api.faults.bodies[r"/agent/list$"] = '{"code": 0, "msg": "success", "data": {"x": 1}}'
    result = sync(source)
    assert result.status == "failed" and "agent list is not a list" in result.error
    api.faults.bodies[r"/agent/list$"] = "<html>login</html>"
    assert "malformed JSON" in sync(source).error


def test_not_configured_without_url_or_token(transactional_db):
    source = Source.objects.create(key="bare", kind=SourceKind.MANAGER_API)
    result = run_manager_api_sync(source)
    assert result.status == "not_configured" and "needs a URL and a token" in result.error
    assert not SyncRun.objects.exists()


def test_audio_is_copied_with_the_sync_only_in_sync_mode(api, source):
    storage = pytest.importorskip("chathistory.audio.storage")
    wav = b"RIFF" + bytes(range(256)) * 8
    api.add_agent("a1", "A")
    api.add_message("a1", "s1", Message(T0, 1, "with audio", MAC_A, audio_id="aud1"))
    api.add_message("a1", "s1", Message(T0, 2, "gone audio", MAC_A, audio_id="aud2"))
    api.audio["aud1"] = wav
    sync(source)  # audio mode "off": nothing fetched
    assert not api.calls(r"/agent/audio/") and not api.calls(r"/agent/play/")
    source.audio_mode = "sync"
    source.save()
    result = sync(Source.objects.get(pk=source.pk), full=True)
    assert result.status == "success" and "1 audio" not in result.error
    message = ChatMessage.objects.get(source="lab", content="with audio")
    audio = message.audio
    assert audio.size == len(wav) and audio.content_type == "audio/wav"
    handle, size = storage.open_audio(audio)
    with handle:
        assert (handle.read(), size) == (wav, len(wav))
    assert len(api.calls(r"/agent/play/")) == 1  # aud2: the server has none, no play id
    sync(Source.objects.get(pk=source.pk), full=True)
    assert len(api.calls(r"/agent/play/")) == 1  # stored once, never fetched again


def test_remote_sessions_admin_is_read_only_and_takes_hostile_queries(api, source, admin_client):
    seed(api)
    api.fail(r"/chat-history/s1$", 500, times=100)
    sync(source, retries=0)
    url = "/admin/chathistory/remotesession/"
    page = admin_client.get(url, {"failed": "yes"})
    assert page.status_code == 200 and b"s1" in page.content
    for query in ("<script>alert(1)</script>", "' OR 1=1 --", "\x00", "x" * 5000):
        assert admin_client.get(url, {"q": query}).status_code == 200
    assert admin_client.get(url + "add/").status_code == 403


def test_a_batch_rolled_back_midway_is_copied_whole_by_the_next_run(api, source):
    """Another run takes the source over between two batches (this worker looked dead):
    the second batch's transaction rolls back, messages and session records together."""
    api.add_agent("a1", "A")
    for s in range(8):
        for i in range(5):
            moment = T0 + timedelta(minutes=s, seconds=i)
            api.add_message("a1", f"s{s}", Message(moment, 1 + i % 2, f"m{i}", MAC_A))
    api.add_message("a1", "s0", Message(T0, 1, "m0", MAC_A))  # an identical twin in s0

    def taken_over(progress):
        SyncState.objects.filter(source="lab").update(claimed_by="another-worker")

    lost = sync(source, batch_size=10, on_batch=taken_over)
    assert lost.status == "failed" and "took over" in lost.error
    copied = ChatMessage.objects.filter(source="lab").count()
    recorded = RemoteSession.objects.filter(source="lab", chat_count__gte=0).count()
    assert 0 < copied < 41 and 0 < recorded < 8
    SyncState.objects.filter(source="lab").update(claimed_by="", claimed_at=None, status="failed")
    assert sync(source, batch_size=10).status == "success"
    assert ChatMessage.objects.filter(source="lab").count() == 41
    assert hub_messages() == server_messages(api)
    assert (
        sum(ChatSession.objects.filter(source="lab").values_list("message_count", flat=True)) == 41
    )


def test_messages_deleted_in_the_hub_stay_deleted_when_their_session_grows(api, source):
    """Retention or a device's history deleted on demand: the session goes on, the re-read
    of the grown session brings back none of what was deleted (a full run would)."""
    seed(api)
    sync(source)
    ChatMessage.objects.filter(source="lab", session__session_id="s1").delete()
    api.add_message("a1", "s1", Message(T0 + timedelta(hours=5), 1, "s1 after delete", MAC_A))
    result = sync(source)
    assert (result.status, result.rows_read, result.rows_written) == ("success", 7, 1)
    kept = ChatMessage.objects.filter(source="lab", session__session_id="s1")
    assert list(kept.values_list("content", flat=True)) == ["s1 after delete"]
    assert ChatMessage.objects.filter(source="lab").count() == 7
