"""Turning one xiaozhi-esp32-server chat row into the hub's message fields.

Pure functions, shared by the sync and the report ingest so both paths
produce identical messages (and identical match keys).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from xiaozhi_hub.jsonlimits import loads_limited

from .models import Role

ROLES = {1: Role.USER, 2: Role.AGENT, 3: Role.TOOL}
# "name({...})" or "name(...)" in a tool row's text.
_TOOL_CALL = re.compile(r"^\s*(?P<name>[\w.\-:]+)\s*\((?P<args>.*)\)\s*$", re.DOTALL)
# JSON inside content deeper than MariaDB's JSON columns take (31 levels), or with a
# lone surrogate, NaN or Infinity, stays text (its JsonInputError is a ValueError).
_STORABLE_DEPTH = 31


def _json(text: str) -> Any:
    return loads_limited(text, max_depth=_STORABLE_DEPTH, max_bytes=None)


class BadRow(ValueError):
    """A row that cannot become a message; it is recorded and skipped."""


@dataclass(frozen=True)
class ParsedContent:
    role: str
    content: str
    speaker: str | None = None
    tool_name: str | None = None
    tool_arguments: Any = None


def as_text(value: Any) -> str:
    """TEXT, VARCHAR or a binary collation: always str, NULL becomes ''."""
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def role_for(chat_type: Any) -> str:
    try:
        return ROLES[int(chat_type)]
    except (KeyError, TypeError, ValueError):
        expected = "1 user, 2 agent, 3 tool"
        raise BadRow(f"unknown chat_type {chat_type!r} (expected {expected})") from None


def parse_content(chat_type: Any, raw: str) -> ParsedContent:
    role = role_for(chat_type)
    if role == Role.USER:
        return _parse_user(raw)
    if role == Role.TOOL:
        return _parse_tool(raw)
    return ParsedContent(role=role, content=raw)


def _parse_user(raw: str) -> ParsedContent:
    # Voiceprint-enabled servers store {"speaker": "...", "content": "..."}.
    if raw.lstrip().startswith("{"):
        try:
            data = _json(raw)
        except ValueError:
            data = None
        if isinstance(data, dict) and "content" in data:
            speaker = data.get("speaker")
            return ParsedContent(
                role=Role.USER,
                content=as_text(data.get("content")),
                speaker=str(speaker)[:255] if speaker not in (None, "") else None,
            )
    return ParsedContent(role=Role.USER, content=raw)


def _parse_tool(raw: str) -> ParsedContent:
    # [{"type": "tool", "text": "name({...})"}] — anything else is kept as text.
    try:
        items = _json(raw)
    except ValueError:
        items = None
    if isinstance(items, dict):
        items = [items]
    if not isinstance(items, list):
        return ParsedContent(role=Role.TOOL, content=raw)
    texts = [as_text(item.get("text")) for item in items if isinstance(item, dict)]
    text = "\n".join(t for t in texts if t) or raw
    name, arguments = None, None
    match = _TOOL_CALL.match(texts[0]) if texts else None
    if match:
        name = match.group("name")[:255]
        args = match.group("args").strip()
        try:
            arguments = _json(args) if args else {}
        except ValueError:
            arguments = args
    return ParsedContent(role=Role.TOOL, content=text, tool_name=name, tool_arguments=arguments)


def match_key(*, mac: str | None, session_id: str | None, chat_type: int, raw: str) -> str:
    """What a report and its later source row have in common (besides the time)."""
    joined = "\x1f".join([mac or "", session_id or "", str(int(chat_type)), raw])
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()


def report_key(
    *, mac: str, session_id: str | None, chat_type: int, raw: str, report_time_ms: int
) -> str:
    """A report's identity: the core retries the same report unchanged."""
    joined = "\x1f".join(
        [mac, session_id or "", str(int(chat_type)), str(int(report_time_ms)), raw]
    )
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()


def preview(text: str, length: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= length else text[: length - 1] + "…"
