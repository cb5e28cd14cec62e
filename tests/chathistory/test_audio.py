"""Chat audio (docs/audio.md): GET /api/v2/messages/<pk>/audio with permissions, the
source's audio mode, the agent's setting, lazy copies from a real source database,
Range requests, the storage, and what the transcript is told to offer."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from chathistory.audio.fetch import AudioUnavailable, audio_for_play
from chathistory.audio.policy import message_ids_with_audio, playable_audio_expression
from chathistory.audio.storage import (
    AudioTooLarge,
    delete_audio,
    open_audio,
    store_audio,
)
from chathistory.models import Agent, ChatAudio, ChatMessage, ChatSession, Device, Source
from chathistory.models.audio_storage import chat_audio_storage

pytestmark = [pytest.mark.requires_services("mysql", "redis")]

MAC = "aa:bb:cc:00:77:01"


def wav(seconds: float = 0.1, tone: int = 1) -> bytes:
    """A real WAV, 16 kHz mono 16-bit, as xiaozhi-esp32-server stores it."""
    out = io.BytesIO()
    with wave.open(out, "wb") as file:
        file.setnchannels(1)
        file.setsampwidth(2)
        file.setframerate(16000)
        file.writeframes(bytes([tone % 256, 0]) * int(16000 * seconds))
    return out.getvalue()


@pytest.fixture
def audio_dir(settings, tmp_path):
    settings.HUB_AUDIO_DIR = str(tmp_path / "audio")
    return Path(settings.HUB_AUDIO_DIR)


@pytest.fixture
def world(esp32, audio_dir):
    """A source database with one audio blob; the hub's copy of its message, not yet
    holding the audio; the "esp32" source row in lazy mode."""
    source, _ = Source.objects.update_or_create(
        key="esp32", defaults={"from_environment": True, "kind": "mysql", "audio_mode": "lazy"}
    )
    agent = Agent.objects.create(source="esp32", agent_id="agent1", chat_history_conf=2)
    device = Device.objects.create(source="esp32", mac=MAC, agent=agent)
    session = ChatSession.objects.create(source="esp32", session_id="s1", device=device)
    blob = wav()
    esp32.execute("INSERT INTO ai_agent_chat_audio (id, audio) VALUES (%s, %s)", ["a1", blob])

    def message(audio_id="a1", **extra):
        values = {
            "source": "esp32",
            "match_key": "k",
            "device": device,
            "session": session,
            "agent": agent,
            "chat_type": 1,
            "role": "user",
            "content": "你好",
            "audio_id": audio_id,
            "created_at": timezone.now(),
        }
        return ChatMessage.objects.create(**{**values, **extra})

    return {"source": source, "agent": agent, "blob": blob, "message": message, "db": esp32}


@pytest.fixture
def listener(client, django_user_model):
    user = django_user_model.objects.create_user("listener", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_chatmessage"))
    client.force_login(user)
    return client


def url(message) -> str:
    return f"/api/v2/messages/{message.pk}/audio"


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_served_only_with_the_chat_view_permission(world, client, django_user_model):
    message = world["message"]()
    assert client.get(url(message)).status_code == 401  # anonymous (token auth first)
    ops = django_user_model.objects.create_user("ops", password="pw", is_staff=True)
    client.force_login(ops)
    refused = client.get(url(message))
    assert refused.status_code == 403 and "view_chatmessage" in refused.json()["detail"]
    # A user that is not staff is refused even with the permission.
    outsider = django_user_model.objects.create_user("outsider", password="pw")
    outsider.user_permissions.add(Permission.objects.get(codename="view_chatmessage"))
    client.force_login(outsider)
    assert client.get(url(message)).status_code == 403
    assert not ChatAudio.objects.exists()  # nothing was copied for the refused
    ops.user_permissions.add(Permission.objects.get(codename="view_chatmessage"))
    client.force_login(ops)
    response = client.get(url(message))
    assert response.status_code == 200 and body(response) == world["blob"]


def test_lazy_mode_copies_on_first_play_then_serves_the_copy(world, listener):
    message = world["message"]()
    response = listener.get(url(message))
    assert response.status_code == 200
    assert response["Content-Type"] == "audio/wav" and response["Accept-Ranges"] == "bytes"
    assert response["Content-Length"] == str(len(world["blob"]))
    assert response["Cache-Control"] == "private, no-store"
    assert body(response) == world["blob"]
    stored = ChatAudio.objects.get(message=message)
    name = f"esp32/{message.pk % 1000:03d}/{message.pk}.wav"
    assert stored.file.name == name and stored.size == len(world["blob"])
    with chat_audio_storage().open(name, "rb") as handle:
        assert handle.read() == world["blob"]
    # The source loses it: the hub's copy is served.
    world["db"].execute("DELETE FROM ai_agent_chat_audio")
    assert body(listener.get(url(message))) == world["blob"]


def test_range_requests(world, listener):
    message = world["message"]()
    blob, size = world["blob"], len(world["blob"])

    first = listener.get(url(message), HTTP_RANGE="bytes=0-99")
    assert first.status_code == 206 and body(first) == blob[:100]
    assert first["Content-Range"] == f"bytes 0-99/{size}" and first["Content-Length"] == "100"

    suffix = listener.get(url(message), HTTP_RANGE="bytes=-44")
    assert suffix.status_code == 206 and body(suffix) == blob[-44:]
    assert suffix["Content-Range"] == f"bytes {size - 44}-{size - 1}/{size}"

    rest = listener.get(url(message), HTTP_RANGE="bytes=1000-")
    assert rest.status_code == 206 and body(rest) == blob[1000:]

    past = listener.get(url(message), HTTP_RANGE=f"bytes={size}-")
    assert past.status_code == 416 and past["Content-Range"] == f"bytes */{size}"

    for hostile in ("bytes=abc", "bytes=5-1", "bytes=-0", "bytes=--1", "bytes=0-1;DROP"):
        answer = listener.get(url(message), HTTP_RANGE=hostile)
        assert answer.status_code == 416, hostile

    several = listener.get(url(message), HTTP_RANGE="bytes=0-9,20-29")
    assert several.status_code == 200 and body(several) == blob  # documented: the whole file

    other_unit = listener.get(url(message), HTTP_RANGE="items=0-1")
    assert other_unit.status_code == 200 and body(other_unit) == blob

    etag = first["ETag"]
    same = listener.get(url(message), HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE=etag)
    assert same.status_code == 206
    changed = listener.get(url(message), HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE='"other"')
    assert changed.status_code == 200 and body(changed) == blob


def test_off_means_never_copied_and_never_played(world, listener):
    message = world["message"]()
    store_audio(message_id=message.pk, data=world["blob"])  # rows exist, e.g. from before
    Source.objects.filter(key="esp32").update(audio_mode="off")
    response = listener.get(url(message))
    assert response.status_code == 404
    assert response.json()["detail"] == "audio is turned off for the source esp32"
    assert message_ids_with_audio(message_ids=[message.pk]) == set()
    # A message whose source has no row at all is "off" too.
    Source.objects.filter(key="esp32").delete()
    assert listener.get(url(message)).status_code == 404


def test_an_agent_without_audio_has_none(world, listener):
    message = world["message"]()
    Agent.objects.filter(pk=world["agent"].pk).update(chat_history_conf=1)
    response = listener.get(url(message))
    assert response.status_code == 404 and "chat_history_conf is 1" in response.json()["detail"]
    assert not ChatAudio.objects.exists()


def test_404_reasons(world, listener):
    assert listener.get("/api/v2/messages/999999999/audio").status_code == 404
    assert listener.get(f"/api/v2/messages/{10**30}/audio").status_code == 404  # past BIGINT
    assert listener.get("/api/v2/messages/-1/audio").status_code == 404  # no route
    assert listener.get("/api/v2/messages/1%2F..%2F..%2Fetc/audio").status_code == 404
    without = world["message"](audio_id=None)
    response = listener.get(url(without))
    assert response.status_code == 404 and response.json()["detail"] == "this message has no audio"
    lost = world["message"](audio_id="gone")
    response = listener.get(url(lost))
    assert response.json()["detail"] == "the source holds no audio for this message"
    assert ChatAudio.objects.get(message=lost).missing
    # Errors are JSON whatever the client accepts (an <audio> element asks for audio/*).
    response = listener.get(url(lost), HTTP_ACCEPT="audio/wav")
    assert response.status_code == 404 and response["Content-Type"] == "application/json"


def test_a_missing_audio_is_asked_for_again_by_a_later_play(world, listener):
    message = world["message"](audio_id="late")
    assert listener.get(url(message)).status_code == 404
    world["db"].execute("INSERT INTO ai_agent_chat_audio (id, audio) VALUES ('late', %s)", [b"x"])
    assert listener.get(url(message)).status_code == 404  # asked a moment ago
    ChatAudio.objects.filter(message=message).update(
        copied_at=timezone.now() - timezone.timedelta(minutes=5)
    )
    assert body(listener.get(url(message))) == b"x"


def test_store_audio_keeps_only_audio_types_and_bounded_sizes(world, settings):
    message = world["message"]()
    stored = store_audio(message_id=message.pk, data=b"<script>", content_type="text/html")
    assert stored.content_type == "application/octet-stream"
    assert stored.file.name.endswith(f"/{message.pk}.bin")
    stored = store_audio(message_id=message.pk, data=world["blob"], content_type="audio/wav")
    assert ChatAudio.objects.filter(message=message).count() == 1  # replaced, not added
    handle, size = open_audio(stored)
    with handle:
        assert handle.read() == world["blob"] and size == len(world["blob"])
    settings.HUB_AUDIO_MAX_BYTES = 10
    with pytest.raises(AudioTooLarge):
        store_audio(message_id=message.pk, data=b"x" * 11)
    with pytest.raises(ChatMessage.DoesNotExist):
        store_audio(message_id=999999999, data=b"x")


def test_audio_reported_before_the_storage_is_still_served(world, listener):
    message = world["message"](audio_id=None)
    ChatAudio.objects.create(message=message, data=b"RIFF-old", size=8)
    assert body(listener.get(url(message))) == b"RIFF-old"


def test_delete_audio_removes_files_and_rows(world):
    message = world["message"]()
    name = store_audio(message_id=message.pk, data=world["blob"]).file.name
    assert chat_audio_storage().exists(name)
    assert delete_audio(message_ids=[message.pk]) == 1
    assert not chat_audio_storage().exists(name) and not ChatAudio.objects.exists()


def test_the_local_folder_is_hub_audio_dir(world, audio_dir, settings):
    if "chat_audio" in settings.STORAGES:
        pytest.skip("STORAGES names its own chat_audio storage")
    message = world["message"]()
    name = store_audio(message_id=message.pk, data=world["blob"]).file.name
    assert (audio_dir / name).read_bytes() == world["blob"]


def test_a_file_lost_from_the_storage_is_a_404(world, listener):
    message = world["message"]()
    stored = store_audio(message_id=message.pk, data=world["blob"])
    chat_audio_storage().delete(stored.file.name)
    response = listener.get(url(message))
    assert response.status_code == 404 and "missing" in response.json()["detail"]


def test_what_the_transcript_is_told_to_offer(world):
    """The payload's `audio` flag: only when audio exists (stored, or an id a mysql
    source may hold) and is enabled."""
    with_id = world["message"]()
    without = world["message"](audio_id=None)
    lacking = world["message"](audio_id="gone")
    with pytest.raises(AudioUnavailable):
        audio_for_play(message_id=lacking.pk)  # records that the source lacks it
    reported = world["message"](audio_id=None)
    store_audio(message_id=reported.pk, data=b"x")
    ids = [with_id.pk, without.pk, lacking.pk, reported.pk]
    assert message_ids_with_audio(message_ids=ids) == {with_id.pk, reported.pk}
    flags = dict(
        ChatMessage.objects.filter(pk__in=ids)
        .annotate(audio_flag=playable_audio_expression())
        .values_list("pk", "audio_flag")
    )
    assert flags == {with_id.pk: True, without.pk: False, lacking.pk: False, reported.pk: True}
    Agent.objects.filter(pk=world["agent"].pk).update(chat_history_conf=0)
    assert message_ids_with_audio(message_ids=ids) == set()
    Agent.objects.filter(pk=world["agent"].pk).update(chat_history_conf=2)
    Source.objects.filter(key="esp32").update(audio_mode="off")
    assert message_ids_with_audio(message_ids=ids) == set()


def test_the_transcript_page_offers_audio_through_the_route(world, listener):
    device = Device.objects.get(mac=MAC)
    page = listener.get(f"/console/devices/{device.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-audio-url="/api/v2/messages/0/audio"' in html
    assert "<audio" not in html  # rendered by the script, per message, never inline
