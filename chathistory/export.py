"""Chat messages as files a person downloads: CSV (for Excel) and JSON Lines.

The formats only; what is exported is a selector's batches (selectors.
message_rows_in_batches) and the REST routes are chathistory/api/export.py
(docs/chat-history.md, "Export").

- CSV starts with a UTF-8 byte order mark: without it Excel reads the file in the
  system's code page and Chinese text turns into mojibake. A text cell starting
  with = + - @ (or a tab or carriage return) gets a leading ' so a spreadsheet
  shows it as text instead of running it as a formula (CSV injection).
- JSONL: one JSON object per line, the message as written, nothing escaped away.

Times are ISO 8601 in the hub's TIME_ZONE, with their offset.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import datetime

from django.utils import timezone

FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson; charset=utf-8",
}
BOM = "\ufeff"
# What a spreadsheet would read as the start of a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# The columns of an export, in order: keys (to join with the API) and names (to read).
# `source` is the key of the Source the message came from; `source_id`, its row id there.
COLUMNS = (
    "id",
    "created_at",
    "device",
    "device_alias",
    "agent_id",
    "session_id",
    "session_title",
    "role",
    "speaker",
    "content",
    "tool_name",
    "tool_arguments",
    "source",
    "source_id",
)


def _time(value: datetime | None) -> str | None:
    return timezone.localtime(value).isoformat(timespec="milliseconds") if value else None


def export_record(row: dict) -> dict:
    """One message (a `message_rows_in_batches` row) as an export's record."""
    return {
        "id": row["id"],
        "created_at": _time(row["created_at"]),
        "device": row["device_mac"],
        "device_alias": row["device_alias"],
        "agent_id": row["agent_key"],
        "session_id": row["session_key"],
        "session_title": row["session_title"],
        "role": row["role"],
        "speaker": row["speaker"],
        "content": row["content"],
        "tool_name": row["tool_name"],
        "tool_arguments": row["tool_arguments"],
        "source": row["source"],
        "source_id": row["source_id"],
    }


def spreadsheet_cell(value) -> str:
    """A value as a CSV cell no spreadsheet runs as a formula."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_chunks(batches: Iterable[list[dict]]) -> Iterator[str]:
    """The CSV file: the BOM and header, then one chunk per batch."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def taken() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(COLUMNS)
    yield BOM + taken()
    for batch in batches:
        for row in batch:
            record = export_record(row)
            writer.writerow([spreadsheet_cell(record[name]) for name in COLUMNS])
        yield taken()


def jsonl_chunks(batches: Iterable[list[dict]]) -> Iterator[str]:
    """The JSON Lines file: one object per message, one chunk per batch."""
    for batch in batches:
        yield "".join(json.dumps(export_record(row), ensure_ascii=False) + "\n" for row in batch)


def export_chunks(file_format: str, batches: Iterable[list[dict]]) -> Iterator[bytes]:
    """The file in `file_format` (a key of FORMATS), as UTF-8 chunks."""
    chunks = csv_chunks(batches) if file_format == "csv" else jsonl_chunks(batches)
    for chunk in chunks:
        yield chunk.encode("utf-8")
