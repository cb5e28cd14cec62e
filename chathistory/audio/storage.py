"""Audio bytes in and out of the "chat_audio" storage (chathistory/models/audio_storage.py).

The one door for writes: the mysql copy (copy.py, fetch.py), the manager-api source
and the report endpoint all call `store_audio`. The file is written before its row,
so a row never names a file that is not there; a file left without a row (a crash
in between) is overwritten by the next store of the same message.
"""

from __future__ import annotations

import io
import logging
from typing import IO

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from ..models import ChatAudio, ChatMessage
from ..models.audio_storage import audio_file_name, chat_audio_storage

log = logging.getLogger(__name__)

# What store_audio keeps as the content type: an audio type from this list; anything
# else is kept as application/octet-stream, so a source can never make the hub
# serve, say, text/html from its own origin.
AUDIO_CONTENT_TYPES = {
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/ogg": "ogg",
    "audio/opus": "opus",
    "audio/mpeg": "mp3",
}
OTHER_CONTENT_TYPE = "application/octet-stream"
# The largest audio kept (a source's LONGBLOB may hold anything): 32 MiB is about
# 17 minutes of 16 kHz mono WAV.
DEFAULT_MAX_BYTES = 32 * 1024 * 1024


class AudioTooLarge(ValueError):
    """The audio is larger than HUB_AUDIO_MAX_BYTES."""


def max_audio_bytes() -> int:
    return int(getattr(settings, "HUB_AUDIO_MAX_BYTES", DEFAULT_MAX_BYTES))


def _content_type(content_type: str) -> str:
    value = (content_type or "").split(";", 1)[0].strip().lower()
    return value if value in AUDIO_CONTENT_TYPES else OTHER_CONTENT_TYPE


def store_audio(*, message_id: int, data: bytes, content_type: str = "audio/wav") -> ChatAudio:
    """Keep `data` as the audio of message `message_id` (replacing any audio it had).

    ChatMessage.DoesNotExist for an unknown message; AudioTooLarge past
    HUB_AUDIO_MAX_BYTES. The file is named by the message's source and primary key.
    """
    data = bytes(data)
    if len(data) > max_audio_bytes():
        raise AudioTooLarge(
            f"audio of message {message_id} is {len(data)} bytes, "
            f"more than HUB_AUDIO_MAX_BYTES ({max_audio_bytes()})"
        )
    message = ChatMessage.objects.only("id", "source").get(pk=message_id)
    content_type = _content_type(content_type)
    extension = AUDIO_CONTENT_TYPES.get(content_type, "bin")
    name = audio_file_name(source=message.source, message_id=message.pk, extension=extension)
    storage = chat_audio_storage()
    if storage.exists(name):
        storage.delete(name)  # a storage that renames instead of overwriting keeps this name
    saved = storage.save(name, ContentFile(data))
    values = {
        "source": message.source,
        "file": saved,
        "data": None,
        "size": len(data),
        "content_type": content_type,
        "missing": False,
        "copied_at": timezone.now(),
    }
    return _upsert(message_id=message.pk, values=values)


def record_missing(*, message_id: int, source: str) -> ChatAudio:
    """Note that the source held no audio for the message (the sync does not ask again)."""
    values = {
        "source": source,
        "file": "",
        "data": None,
        "size": 0,
        "missing": True,
        "copied_at": timezone.now(),
    }
    return _upsert(message_id=message_id, values=values)


def _upsert(*, message_id: int, values: dict) -> ChatAudio:
    # Two writers of one message (a sync copy and a first play) may race: one inserts,
    # the other updates what it inserted; both wrote the same file name.
    try:
        with transaction.atomic():
            return ChatAudio.objects.create(message_id=message_id, **values)
    except IntegrityError:
        ChatAudio.objects.filter(message_id=message_id).update(**values)
        return ChatAudio.objects.get(message_id=message_id)


def open_audio(audio: ChatAudio) -> tuple[IO[bytes], int]:
    """The audio's bytes as an open binary file, and its size. FileNotFoundError when
    the row names a file the storage no longer has."""
    if audio.file:
        storage = chat_audio_storage()
        handle = storage.open(audio.file.name, "rb")
        size = audio.size or storage.size(audio.file.name)
        return handle, size
    if audio.data is not None:
        data = bytes(audio.data)
        return io.BytesIO(data), len(data)
    raise FileNotFoundError(f"audio of message {audio.message_id} has no file")


def delete_audio(*, message_ids) -> int:
    """Delete the audio (files, then rows) of these messages; the number of rows deleted.

    For retention and deletes on demand: call it before deleting the messages (their
    rows go with the messages by CASCADE, but files do not)."""
    rows = list(
        ChatAudio.objects.filter(message_id__in=list(message_ids)).values_list("id", "file")
    )
    storage = chat_audio_storage()
    for _pk, name in rows:
        if name:
            try:
                storage.delete(name)
            except OSError:
                log.warning("could not delete audio file %s", name, exc_info=True)
    deleted, _ = ChatAudio.objects.filter(id__in=[pk for pk, _name in rows]).delete()
    return deleted
