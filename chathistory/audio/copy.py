"""copy_pending: a "sync" source's audio, copied into the hub's storage after a sync run.

Messages of the source with an audio id and no stored audio (nor a note that the
source lacked it) are read in primary-key windows from a cursor kept in the cache
(one scan of the table in total, not one per run; a lost cache starts one new scan),
and their blobs fetched from `ai_agent_chat_audio` a batch at a time. Every call is
bounded: at most `limit` messages and `max_windows` windows of `window` ids.

A message whose audio id was filled in below the cursor later (a reported message
linked to its source row) is fetched on its first play instead (fetch.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.core.cache import cache
from django.db import DatabaseError
from django.db.models import Max

from ..models import AudioMode, ChatAudio, ChatMessage, Source, SourceKind
from ..sources.registry import SourceNotConfigured
from .policy import agent_allows_audio
from .source_db import read_blobs
from .storage import AudioTooLarge, record_missing, store_audio

log = logging.getLogger(__name__)


@dataclass
class AudioCopyResult:
    copied: int = 0
    missing: int = 0  # the source held no audio for the message
    failed: int = 0  # too large to keep
    cursor: int = 0  # the message pk every message up to has been looked at
    error: str = ""  # the source could not be read (nothing more was tried)


def _cursor_key(source: Source) -> str:
    return f"chathistory:audio-copy-cursor:{source.key}"


def copy_cursor(*, source: Source) -> int:
    return int(cache.get(_cursor_key(source)) or 0)


def reset_copy_cursor(*, source: Source) -> None:
    """Look at every message again on the next call (e.g. after the mode went to sync)."""
    cache.delete(_cursor_key(source))


def _pending(source: Source, low: int, high: int) -> list[tuple[int, str]]:
    return list(
        ChatMessage.objects.filter(
            agent_allows_audio(),
            pk__gt=low,
            pk__lte=high,
            source=source.key,
            audio_id__isnull=False,
            audio__isnull=True,
        )
        .exclude(audio_id="")
        .order_by("pk")
        .values_list("pk", "audio_id")
    )


def copy_pending(
    *,
    source: Source,
    limit: int = 200,
    batch_size: int = 20,
    window: int = 20_000,
    max_windows: int = 50,
) -> AudioCopyResult:
    """Copy up to `limit` missing audio files of a mysql source in "sync" audio mode.

    Any other source (mode off or lazy, manager-api kind) is left alone. A source that
    cannot be read ends the call with `error` set (the cursor stays where it was);
    the sync run that called it is not failed by it."""
    result = AudioCopyResult(cursor=copy_cursor(source=source))
    if source.audio_mode != AudioMode.SYNC or source.kind != SourceKind.MYSQL:
        return result
    top = ChatMessage.objects.aggregate(top=Max("pk"))["top"] or 0  # O(1): the pk index
    done = result.cursor
    for _ in range(max_windows):
        if done >= top or result.copied + result.missing + result.failed >= limit:
            break
        high = min(done + window, top)
        pending = _pending(source, done, high)
        room = limit - (result.copied + result.missing + result.failed)
        if len(pending) > room:
            pending = pending[:room]
            high = pending[-1][0]
        for start in range(0, len(pending), batch_size):
            batch = pending[start : start + batch_size]
            try:
                _copy_batch(source, batch, result)
            except (SourceNotConfigured, DatabaseError) as exc:
                result.error = f"source {source.key}: {exc}"
                log.warning("audio copy of source %s stopped: %s", source.key, exc)
                # Everything before this batch is done.
                done = batch[0][0] - 1
                cache.set(_cursor_key(source), done, None)
                result.cursor = done
                return result
        done = high
        cache.set(_cursor_key(source), done, None)
    result.cursor = done
    return result


def _copy_batch(source: Source, batch: list[tuple[int, str]], result: AudioCopyResult) -> None:
    blobs = read_blobs(source=source, audio_ids=[audio_id for _pk, audio_id in batch])
    for pk, audio_id in batch:
        data = blobs.get(audio_id)
        if ChatAudio.objects.filter(message_id=pk, missing=False).exists():
            continue  # a play fetched it meanwhile
        if data is None:
            record_missing(message_id=pk, source=source.key)
            result.missing += 1
            continue
        try:
            store_audio(message_id=pk, data=data, content_type="audio/wav")
            result.copied += 1
        except AudioTooLarge as exc:
            log.warning("%s", exc)
            record_missing(message_id=pk, source=source.key)
            result.failed += 1
        except ChatMessage.DoesNotExist:
            continue  # deleted meanwhile (retention)
