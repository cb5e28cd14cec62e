"""The real-time report of xiaozhi-esp32-server's core, validated.

The core posts every chat message to manager-api's
`POST /xiaozhi/agent/chat-history/report`; pointed at the hub, the same
request lands here. Validation names the field that is wrong. The fields are
described in docs/protocols.md, "Chat-history source".
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime

# Values below this are epoch seconds (older cores), not milliseconds.
_SECONDS_LIMIT = 100_000_000_000


class ReportError(ValueError):
    """Bad input: the message says which field and why."""


@dataclass(frozen=True)
class ChatReport:
    mac: str
    session_id: str | None
    chat_type: int
    content: str
    report_time_ms: int
    audio: bytes | None

    @property
    def created_at(self) -> datetime:
        return datetime.fromtimestamp(self.report_time_ms / 1000, tz=UTC)


def parse_report(body: bytes) -> ChatReport:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ReportError(f"the body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ReportError("the body must be a JSON object")
    missing = [
        name
        for name in ("macAddress", "sessionId", "chatType", "content", "reportTime")
        if name not in data
    ]
    if missing:
        raise ReportError("missing field(s): " + ", ".join(missing))
    return ChatReport(
        mac=_text(data, "macAddress", max_length=50, required=True),
        session_id=_text(data, "sessionId", max_length=50, required=False) or None,
        chat_type=_chat_type(data["chatType"]),
        content=_content(data["content"]),
        report_time_ms=_report_time(data["reportTime"]),
        audio=_audio(data.get("audioBase64")),
    )


def _text(data: dict, name: str, *, max_length: int, required: bool) -> str:
    value = data[name]
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise ReportError(f"{name} must be a non-empty string")
    if len(value) > max_length:
        raise ReportError(f"{name} is longer than {max_length} characters")
    return value.strip()


def _chat_type(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ReportError("chatType must be 1 (user), 2 (agent) or 3 (tool)")
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number not in (1, 2, 3):
        raise ReportError("chatType must be 1 (user), 2 (agent) or 3 (tool)")
    return number


def _content(value) -> str:
    if not isinstance(value, str):
        raise ReportError("content must be a string")
    return value


def _report_time(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ReportError("reportTime must be epoch milliseconds (a number)")
    try:
        number = int(float(value))
    except ValueError:
        raise ReportError("reportTime must be epoch milliseconds (a number)") from None
    if number <= 0:
        raise ReportError("reportTime must be a positive epoch time")
    return number * 1000 if number < _SECONDS_LIMIT else number


def _audio(value) -> bytes | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ReportError("audioBase64 must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ReportError("audioBase64 is not valid base64") from None
