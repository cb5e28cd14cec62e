"""Source rows turned into message fields, and the rows that could not be copied."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from ..devices import optional_device_key
from ..models import SkippedRow
from ..parsing import BadRow, ParsedContent, as_text, match_key, parse_content
from ..sources.esp32 import Esp32Source, SourceRow

logger = logging.getLogger(__name__)

# A source row that cannot be copied, and why.
Rejected = tuple[SourceRow, str]


@dataclass(slots=True)  # one per source row: no per-instance dict for the collector to walk
class Converted:
    row: SourceRow
    parsed: ParsedContent
    created_at: datetime  # aware, UTC
    key: str  # the match key a report of the same message has


def convert(source: Esp32Source, rows: list[SourceRow]) -> tuple[list[Converted], list[Rejected]]:
    good, bad = [], []
    keys: dict[str | None, str | None] = {}  # a batch names few devices, each many times
    for original in rows:
        try:
            # From here on a row names its device by the hub's key (chathistory/devices.py).
            mac = original.mac
            if mac not in keys:
                keys[mac] = optional_device_key(mac)
            row = original if keys[mac] == mac else original._replace(mac=keys[mac])
            raw = as_text(row.content)
            parsed = parse_content(row.chat_type, raw)
            created = source.aware(row.created_at)
            if created is None:
                raise BadRow("created_at and updated_at are both NULL")
            key = match_key(
                mac=row.mac, session_id=row.session_id, chat_type=int(row.chat_type), raw=raw
            )
            good.append(Converted(row, parsed, created, key))
        except (BadRow, TypeError, ValueError) as exc:
            bad.append((original, str(exc)))
    return good, bad


def record_rejected(source: str, run_id: int, rejected: list[Rejected]) -> None:
    """Kept as SkippedRow (once per source id) so an operator sees what was left out."""
    for row, reason in rejected:
        logger.warning("chat sync skipped source row %s: %s", row.id, reason)
    SkippedRow.objects.bulk_create(
        [_skipped_row(source, run_id, row, reason) for row, reason in rejected],
        ignore_conflicts=True,
    )


def _skipped_row(source: str, run_id: int, row: SourceRow, reason: str) -> SkippedRow:
    return SkippedRow(
        source=source,
        source_id=row.id,
        run_id=run_id,
        reason=reason[:2000],
        raw=repr(tuple(row))[:2000],
    )
