"""copy_pending (chathistory/audio/copy.py): a "sync" source's audio copied from a real
source database into the hub's storage, in bounded batches, once."""

from __future__ import annotations

import pytest
from django.utils import timezone

from chathistory.audio.copy import copy_cursor, copy_pending, reset_copy_cursor
from chathistory.models import Agent, ChatAudio, ChatMessage, Device, Source

pytestmark = [pytest.mark.requires_services("mysql", "redis")]


@pytest.fixture
def sync_source(esp32, settings, tmp_path):
    settings.HUB_AUDIO_DIR = str(tmp_path / "audio")
    source, _ = Source.objects.update_or_create(
        key="esp32", defaults={"from_environment": True, "kind": "mysql", "audio_mode": "sync"}
    )
    reset_copy_cursor(source=source)
    yield source
    reset_copy_cursor(source=source)


def _messages(db, count, *, agent, source="esp32", with_blob=True, prefix="m"):
    device, _ = Device.objects.get_or_create(source=source, mac="aa:bb:cc:00:78:01")
    created = []
    for n in range(count):
        audio_id = f"{prefix}{n}"
        if with_blob:
            db.execute(
                "INSERT INTO ai_agent_chat_audio (id, audio) VALUES (%s, %s)",
                [audio_id, f"RIFF{audio_id}".encode()],
            )
        created.append(
            ChatMessage.objects.create(
                source=source,
                match_key="k",
                device=device,
                agent=agent,
                chat_type=1,
                role="user",
                content=str(n),
                audio_id=audio_id,
                created_at=timezone.now(),
            )
        )
    return created


def test_copies_every_pending_audio_once_in_bounded_calls(sync_source, esp32):
    agent = Agent.objects.create(source="esp32", agent_id="a", chat_history_conf=2)
    messages = _messages(esp32, 7, agent=agent)
    first = copy_pending(source=sync_source, limit=3, batch_size=2)
    assert (first.copied, first.missing, first.error) == (3, 0, "")
    assert first.cursor == messages[2].pk == copy_cursor(source=sync_source)
    second = copy_pending(source=sync_source, limit=3, batch_size=2)
    third = copy_pending(source=sync_source, limit=3, batch_size=2)
    assert (second.copied, third.copied) == (3, 1)
    assert copy_pending(source=sync_source).copied == 0  # nothing twice
    for message in messages:
        stored = ChatAudio.objects.get(message=message)
        with stored.file.open("rb") as handle:
            assert handle.read() == f"RIFF{message.audio_id}".encode()


def test_small_windows_and_a_lost_cursor_copy_nothing_twice(sync_source, esp32):
    agent = Agent.objects.create(source="esp32", agent_id="a", chat_history_conf=2)
    messages = _messages(esp32, 5, agent=agent)
    # One window, ending at the second message: that far and no further.
    result = copy_pending(source=sync_source, window=messages[1].pk, max_windows=1)
    assert result.copied == 2 and result.cursor == messages[1].pk
    # Windows of one id, two of them: two ids further.
    assert copy_pending(source=sync_source, window=1, max_windows=2).copied == 2
    reset_copy_cursor(source=sync_source)  # e.g. the cache was flushed: one new scan
    assert copy_pending(source=sync_source).copied == 1
    assert ChatAudio.objects.count() == 5


def test_only_sync_sources_and_agents_that_keep_audio(sync_source, esp32):
    keeps = Agent.objects.create(source="esp32", agent_id="keeps", chat_history_conf=2)
    text_only = Agent.objects.create(source="esp32", agent_id="text", chat_history_conf=1)
    _messages(esp32, 1, agent=text_only, prefix="t")
    lacking = _messages(esp32, 1, agent=keeps, with_blob=False, prefix="x")[0]
    other = Source.objects.create(key="lab", kind="mysql", url="", audio_mode="sync")
    reset_copy_cursor(source=other)
    lab = _messages(esp32, 1, agent=None, source="lab", prefix="l")[0]
    for mode in ("off", "lazy"):
        Source.objects.filter(pk=sync_source.pk).update(audio_mode=mode)
        sync_source.refresh_from_db()
        assert copy_pending(source=sync_source).copied == 0
    assert not ChatAudio.objects.exists()
    Source.objects.filter(pk=sync_source.pk).update(audio_mode="sync")
    sync_source.refresh_from_db()
    result = copy_pending(source=sync_source)
    assert (result.copied, result.missing) == (0, 1)  # text-only agent skipped
    assert ChatAudio.objects.get().message_id == lacking.pk and ChatAudio.objects.get().missing
    assert copy_pending(source=sync_source).missing == 0  # not asked again
    # The "lab" source has no URL: it cannot be read. Reported, not raised; the cursor
    # stops before its message, which the next call tries again.
    for _ in range(2):
        broken = copy_pending(source=other)
        assert broken.copied == 0 and "has no URL" in broken.error
        assert broken.cursor == lab.pk - 1 == copy_cursor(source=other)
    reset_copy_cursor(source=other)
