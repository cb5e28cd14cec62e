"""The audio blobs of a mysql source: `ai_agent_chat_audio` (id = the message's
audio_id, VARCHAR(32); audio = LONGBLOB, WAV 16 kHz mono), read by id with a plain
SELECT through the source's read-only alias (chathistory/sources/registry.py)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connections

from ..models import Source
from ..sources.registry import source_alias


def read_blobs(*, source: Source, audio_ids: Iterable[str]) -> dict[str, bytes]:
    """The blobs of these audio ids that the source holds (absent or NULL: left out).

    SourceNotConfigured when the source cannot be read; the driver's DatabaseError
    when the read fails."""
    ids = sorted({audio_id for audio_id in audio_ids if audio_id})
    if not ids:
        return {}
    alias = source_alias(source)
    marks = ", ".join(["%s"] * len(ids))
    with connections[alias].cursor() as cursor:
        cursor.execute(
            f"SELECT id, audio FROM ai_agent_chat_audio WHERE id IN ({marks})",  # noqa: S608 - placeholders only
            ids,
        )
        return {row[0]: bytes(row[1]) for row in cursor.fetchall() if row[1] is not None}
