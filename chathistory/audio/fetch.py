"""The audio of a message for playing: the stored copy, or fetched from the source.

"lazy" sources copy audio on first play; "sync" sources copy it after each sync
run (copy.py, or the manager-api sync itself), and a play that comes first fetches it
the same way: from the source database's ai_agent_chat_audio, or through manager-api's
audio routes. The message's
row is locked while its audio is fetched, so two plays at once fetch it once.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ..models import AudioMode, ChatAudio, ChatMessage, Source, SourceKind
from ..sources.manager_api import ManagerApiClient, ManagerApiError
from ..sources.registry import SourceNotConfigured
from .policy import audio_refusal
from .source_db import read_blobs
from .storage import AudioTooLarge, record_missing, store_audio

log = logging.getLogger(__name__)

# A play asks the source again for audio it lacked this long ago (the server may
# write the audio row after the message row).
MISSING_RETRY = timedelta(minutes=1)


class AudioUnavailable(Exception):  # noqa: N818 - the name reads as what happened
    """The message's audio cannot be played; `reason` says why (for the person asking)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _stored(message_id: int) -> ChatAudio | None:
    return ChatAudio.objects.filter(message_id=message_id).first()


def _playable(audio: ChatAudio | None) -> bool:
    return audio is not None and not audio.missing and (bool(audio.file) or audio.data is not None)


def audio_for_play(*, message_id: int) -> ChatAudio:
    """The stored audio of the message, fetched from its source if needed and allowed.

    AudioUnavailable (with the reason) when the message is unknown, its source's audio
    is off, its agent keeps no audio, or there is no audio to be had."""
    try:
        if not 0 < message_id < 2**63:  # no such primary key (and SQLite overflows on it)
            raise ChatMessage.DoesNotExist
        message = ChatMessage.objects.select_related("agent").get(pk=message_id)
    except ChatMessage.DoesNotExist:
        raise AudioUnavailable(_("unknown message %(id)s") % {"id": message_id}) from None
    source = Source.objects.filter(key=message.source).first()
    mode = source.audio_mode if source else AudioMode.OFF
    refusal = audio_refusal(message=message, mode=mode)
    if refusal:
        raise AudioUnavailable(refusal)
    audio = _stored(message.pk)
    if _playable(audio):
        return audio
    if not message.audio_id:
        raise AudioUnavailable(_("this message has no audio"))
    if audio is not None and audio.missing and audio.copied_at > timezone.now() - MISSING_RETRY:
        raise AudioUnavailable(_("the source holds no audio for this message"))
    return _fetch(source=source, message=message)


def _fetch(*, source: Source, message: ChatMessage) -> ChatAudio:
    with transaction.atomic():
        # One fetch per message: a second play waits here, then finds the copy.
        ChatMessage.objects.select_for_update().filter(pk=message.pk).exists()
        audio = _stored(message.pk)
        if _playable(audio):
            return audio
        try:
            blobs = _read(source, message.audio_id)
        except (SourceNotConfigured, DatabaseError, ManagerApiError) as exc:
            log.warning(
                "audio of message %s: source %s unreadable: %s", message.pk, source.key, exc
            )
            blobs = None
        data = None if blobs is None else blobs.get(message.audio_id)
        if data is not None:
            try:
                return store_audio(message_id=message.pk, data=data, content_type="audio/wav")
            except AudioTooLarge as exc:
                reason = str(exc)
        elif blobs is not None:
            record_missing(message_id=message.pk, source=message.source)
            reason = _("the source holds no audio for this message")
        else:
            reason = _("the source %(source)s cannot be read now") % {"source": source.key}
    raise AudioUnavailable(reason)


def _read(source: Source, audio_id: str) -> dict[str, bytes]:
    """{audio_id: bytes} when the source holds the audio, {} when it does not."""
    if source.kind == SourceKind.MANAGER_API:
        with ManagerApiClient.for_source(source) as client:
            data = client.audio(audio_id)
        return {} if data is None else {audio_id: data}
    return read_blobs(source=source, audio_ids=[audio_id])
