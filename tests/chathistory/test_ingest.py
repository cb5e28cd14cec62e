"""POST /xiaozhi/agent/chat-history/report, and its meeting with the sync."""

import asyncio
import json
import time

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from chathistory.audio.storage import open_audio
from chathistory.models import ChatAudio, ChatMessage, Device
from chathistory.parsing import match_key
from chathistory.sync import run_sync
from xiaozhi_hub.broadcast import CHAT, chat_channel, group_name

URL = "/xiaozhi/agent/chat-history/report"
SECRET = "s3cret-report-token"
MAC = "aa:bb:cc:dd:ee:01"


@pytest.fixture
def secret(settings):
    settings.HUB_REPORT_SECRET = SECRET
    return SECRET


def report(client, body, *, token=SECRET):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return client.post(URL, data, content_type="application/json", **headers)


def body(**overrides):
    return {
        "macAddress": MAC,
        "sessionId": "s1",
        "chatType": 1,
        "content": "你好 👋",
        "reportTime": int(time.time() * 1000),
        **overrides,
    }


@pytest.mark.django_db
def test_a_report_is_stored_and_a_retry_is_not_duplicated(client, secret):
    sent = body(audioBase64="UklGRg==")
    first = report(client, sent)
    assert (first.status_code, first.json()) == (200, {"code": 0, "msg": "success", "data": True})
    assert report(client, sent).json()["code"] == 0
    message = ChatMessage.objects.get()
    assert (message.origin, message.role, message.content, message.source_id) == (
        "report",
        "user",
        "你好 👋",
        None,
    )
    assert Device.objects.get(mac=MAC).message_count == 1
    assert not ChatAudio.objects.exists()  # HUB_KEEP_AUDIO is off


@pytest.mark.django_db
def test_audio_is_kept_only_when_enabled(client, secret, settings):
    settings.HUB_KEEP_AUDIO = True
    assert report(client, body(audioBase64="UklGRg==")).json()["code"] == 0
    handle, size = open_audio(ChatAudio.objects.get())  # kept in the audio storage
    with handle:
        assert (handle.read(), size) == (b"RIFF", 4)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "status", "needle"),
    [
        ("{not json", 400, "not valid JSON"),
        ("[1, 2]", 400, "JSON object"),
        ({"macAddress": MAC}, 400, "missing field(s): sessionId, chatType, content, reportTime"),
        ({**body(), "chatType": 7}, 400, "chatType must be 1"),
        ({**body(), "reportTime": "soon"}, 400, "reportTime must be epoch milliseconds"),
        ({**body(), "macAddress": ""}, 400, "macAddress must be a non-empty string"),
        ({**body(), "audioBase64": "%%%"}, 400, "audioBase64 is not valid base64"),
    ],
)
def test_bad_reports_get_a_clear_error_and_store_nothing(client, secret, payload, status, needle):
    response = report(client, payload)
    assert response.status_code == status
    assert response.json()["code"] != 0 and needle in response.json()["msg"]
    assert not ChatMessage.objects.exists() and not Device.objects.exists()


@pytest.mark.django_db
def test_wrong_or_missing_secret_is_rejected_without_leaking_it(client, secret):
    for token in ("wrong", None):
        response = report(client, body(), token=token)
        assert response.status_code == 401 and response.json()["code"] == 401
        assert SECRET not in response.content.decode()
    assert not ChatMessage.objects.exists()


@pytest.mark.django_db
def test_ingest_is_disabled_without_a_secret(client, settings):
    settings.HUB_REPORT_SECRET = None
    response = report(client, body(), token="anything")
    assert response.status_code == 403 and "disabled" in response.json()["msg"]


@pytest.mark.requires_services("mysql")
def test_report_then_sync_and_sync_then_report_keep_one_copy_each(esp32, client, secret):
    t1 = 1_735_787_045_678  # 2025-01-02 03:04:05.678 UTC
    assert report(client, body(content="first", reportTime=t1)).json()["code"] == 0
    esp32.write(content="first", created_at="2025-01-02 03:04:05.700")  # manager-api's row
    esp32.write(content="first", created_at="2025-01-02 03:09:00.000")  # said again, later
    esp32.write(chat_type=2, content="answer", created_at="2025-01-02 03:04:06.000")
    run_sync(trigger="test")
    assert ChatMessage.objects.count() == 3
    linked = ChatMessage.objects.get(origin="report")
    assert linked.source_id == 1 and linked.report_key

    # The report of the agent's answer arrives late, after the sync copied it.
    late = report(client, body(chatType=2, content="answer", reportTime=t1 + 322))
    assert late.json()["code"] == 0
    assert ChatMessage.objects.count() == 3
    assert ChatMessage.objects.filter(content="answer").get().report_key
    assert run_sync(trigger="test").rows_read == 0
    assert Device.objects.get(mac=MAC).message_count == 3
    assert ChatMessage.objects.values("source_id").distinct().count() == 3


@pytest.mark.requires_services("mysql", "redis")
def test_console_groups_receive_chat_update_for_ingested_and_synced(esp32, client, secret):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    for name in (CHAT, chat_channel(MAC)):
        async_to_sync(layer.group_add)(group_name(name), channel)

    def frames(count):
        # One event loop for all receives: channels-redis buffers per loop.
        async def receive():
            return [
                (await asyncio.wait_for(layer.receive(channel), 5))["frame"] for _ in range(count)
            ]

        return async_to_sync(receive)()

    assert report(client, body(content="live")).json()["code"] == 0
    frames_ = frames(2)
    assert {f["channel"] for f in frames_} == {CHAT, chat_channel(MAC)}
    for frame in frames_:
        assert frame["type"] == "chat_update" and frame["payload"]["device"] == MAC
        assert [m["content"] for m in frame["payload"]["messages"]] == ["live"]

    esp32.write(content="synced 1")
    esp32.write(chat_type=2, content="synced 2")
    run_sync(trigger="test")
    chat = [f for f in frames(2) if f["type"] == "chat_update"]
    assert len(chat) == 2 and {f["channel"] for f in chat} == {CHAT, chat_channel(MAC)}
    assert [m["content"] for m in chat[0]["payload"]["messages"]] == ["synced 1", "synced 2"]
    assert chat[0]["payload"]["messages"][0]["source_id"] == 1
    for name in (CHAT, chat_channel(MAC)):
        async_to_sync(layer.group_discard)(group_name(name), channel)


@pytest.mark.django_db
def test_a_reported_message_is_masked_as_its_retention_policy_says(client, secret):
    from chathistory.models import RetentionPolicy

    RetentionPolicy.objects.create(scope="source", source="esp32", redact_phone=True)
    sent = body(content="我的手机号是13812345678，记一下")
    assert report(client, sent).json()["code"] == 0
    stored = ChatMessage.objects.get()
    assert "13812345678" not in stored.content and "138****5678" in stored.content
    # The pairing key stays on the raw text: the source row (raw too) still finds it.
    assert stored.match_key == match_key(
        mac=MAC, session_id=sent["sessionId"], chat_type=1, raw=sent["content"]
    )
    assert "13812345678" not in Device.objects.get(mac=MAC).last_message
