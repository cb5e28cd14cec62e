"""The history__* tools: their definitions, argument checks and compact answers.

No database here (selectors.py reads). Bad arguments raise ToolInvalidArguments
(the peer gets JSON-RPC -32602); an answer is one JSON text, at most the access
row's `max_chars` characters: messages that do not fit are left out and the
answer says `"truncated": true`.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, time, timedelta

from django.utils import timezone
from mcp import types

from endpoints.pool.registry import ToolInvalidArguments

from .models import MAX_ROWS

NAMESPACE = "history"
RECENT, SEARCH, SESSION = "history__recent", "history__search", "history__session_summary"
MAX_QUERY = 100  # characters of a search text
MAX_SESSION_ID = 50  # as ChatSession.session_id
MAX_DEVICE = 50  # as Device.mac
MAX_TEXT = 500  # characters of one message in an answer (longer ones end with "…")
SESSION_ROWS = 40  # the most messages of a session one answer lists
ROLE_NAMES = {"user": "user", "agent": "assistant"}
_RELATIVE = re.compile(r"^(\d{1,4})([hdw])$")
_UNITS = {"h": "hours", "d": "days", "w": "weeks"}

_WHEN = (
    'An ISO date or time (2026-11-28, 2026-11-28T09:00), "today", "yesterday", '
    'or a span back from now: "12h", "7d", "2w".'
)
_LIMIT = {"type": "integer", "minimum": 1, "maximum": MAX_ROWS}

TOOLS = [
    types.Tool(
        name=RECENT,
        description=(
            "The latest messages between the user and you (the assistant), oldest first: "
            "what was said recently. Optionally only one device's (its MAC or name)."
        ),
        inputSchema={
            "type": "object",
            "properties": {
                "limit": {**_LIMIT, "description": "How many messages (default 10)."},
                "device": {"type": "string", "maxLength": MAX_DEVICE},
            },
            "additionalProperties": False,
        },
    ),
    types.Tool(
        name=SEARCH,
        description=(
            "Search the past conversations between the user and you for a text, newest "
            "first. Use it for questions like 'what did I ask you yesterday about the "
            "weather?'. Each hit names its session: history__session_summary shows it whole."
        ),
        inputSchema={
            "type": "object",
            "properties": {
                "query": {"type": "string", "minLength": 1, "maxLength": MAX_QUERY},
                "since": {"type": "string", "description": "From this moment. " + _WHEN},
                "until": {"type": "string", "description": "Up to this moment. " + _WHEN},
                "limit": {**_LIMIT, "description": "How many matches (default 10)."},
            },
            "required": ["query"],
            "additionalProperties": False,
        },
    ),
    types.Tool(
        name=SESSION,
        description=(
            "The messages of one past conversation (a session id from history__recent or "
            "history__search), oldest first."
        ),
        inputSchema={
            "type": "object",
            "properties": {
                "session_id": {"type": "string", "minLength": 1, "maxLength": MAX_SESSION_ID}
            },
            "required": ["session_id"],
            "additionalProperties": False,
        },
    ),
]
TOOL_NAMES = frozenset(tool.name for tool in TOOLS)
_ALLOWED = {tool.name: set(tool.input_schema["properties"]) for tool in TOOLS}


def check_names(name: str, arguments: dict) -> None:
    unknown = sorted(set(arguments) - _ALLOWED[name])
    if unknown:
        raise ToolInvalidArguments(f"{name} takes no argument {unknown[0][:40]!r}")


def limit_of(arguments: dict, *, cap: int, default: int = 10) -> tuple[int, bool]:
    """(rows to read, whether the caller asked for more than `cap` allows)."""
    value = arguments.get("limit")
    if value is None:
        return min(default, cap), False
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ROWS:
        raise ToolInvalidArguments(f"limit must be a whole number from 1 to {MAX_ROWS}")
    return min(value, cap), value > cap


def text_of(arguments: dict, key: str, *, most: int, required: bool) -> str | None:
    value = arguments.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ToolInvalidArguments(f"{key} must be a non-empty string")
    value = value.strip()
    if len(value) > most or "\x00" in value:
        raise ToolInvalidArguments(f"{key} must be at most {most} characters")
    return value


def when_of(arguments: dict, key: str, *, end: bool, now: datetime | None = None):
    """An aware datetime for `since` (end=False) or `until` (end=True), or None.

    A day (an ISO date, "today", "yesterday") means its start for `since` and
    its end (the next day's start) for `until`, in the hub's time zone.
    """
    value = arguments.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise ToolInvalidArguments(f"{key}: {_WHEN}")
    now = now or timezone.now()
    today = timezone.localtime(now).date()
    text = value.strip().lower()
    day = None
    if text == "today":
        day = today
    elif text == "yesterday":
        day = today - timedelta(days=1)
    elif match := _RELATIVE.match(text):
        return now - timedelta(**{_UNITS[match[2]]: int(match[1])})
    else:
        try:
            if len(text) == 10:
                day = datetime.strptime(text, "%Y-%m-%d").date()
            else:
                moment = datetime.fromisoformat(value.strip())
                if timezone.is_naive(moment):
                    moment = timezone.make_aware(moment)
                return moment
        except (ValueError, OverflowError):
            raise ToolInvalidArguments(f"{key}: {_WHEN}") from None
    if end:
        day = day + timedelta(days=1)
    return timezone.make_aware(datetime.combine(day, time.min))


def _clip(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"


def message_item(row: dict, *, most: int = MAX_TEXT) -> dict:
    item = {
        "time": timezone.localtime(row["created_at"]).isoformat(timespec="seconds"),
        "role": ROLE_NAMES.get(row["role"], row["role"]),
        "text": _clip(row["content"] or "", most),
        "session": row["session__session_id"],
    }
    if row.get("device__alias"):
        item["device"] = row["device__alias"]
    return item


def answer(
    rows: list[dict], *, max_chars: int, truncated: bool = False, **fields
) -> types.CallToolResult:
    """One JSON text: `fields`, then as many `messages` as fit in `max_chars` characters
    (each message's text cut to a third of that, at most MAX_TEXT)."""
    most = min(MAX_TEXT, max_chars // 3)
    items: list[dict] = []
    for row in rows:
        item = message_item(row, most=most)
        if len(_dump(fields, [*items, item], True)) > max_chars:
            truncated = True
            break
        items.append(item)
    text = _dump(fields, items, truncated)
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)])


def _dump(fields: dict, items: list[dict], truncated: bool) -> str:
    body = {**fields, "count": len(items), "truncated": truncated, "messages": items}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def error(text: str) -> types.CallToolResult:
    """A tool-level failure the assistant can read (isError), not a protocol error."""
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], isError=True)
