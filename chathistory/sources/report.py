"""The real-time report of xiaozhi-esp32-server's core, validated.

The core posts every chat message to manager-api's
`POST /xiaozhi/agent/chat-history/report`; pointed at the hub, the same
request lands here. Validation names the field that is wrong. The fields are
described in docs/protocols.md, "Chat-history source"; the accepted times in
docs/chat-history.md, "Real-time reports".
"""

from __future__ import annotations

import base64
import binascii
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from xiaozhi_hub.jsonlimits import JsonInputError, loads_limited

# Values below this are epoch seconds (older cores), not milliseconds.
_SECONDS_LIMIT = 100_000_000_000
# Report times outside [2000-01-01, the hub's clock + a day] are refused: such a time
# is a broken clock or a unit mix-up, and stored as received it would sort the message
# decades away; stamped with the hub's time instead, it could never pair with the row
# manager-api stores, and the sync would copy the message a second time. Refused, the
# core does not retry (4xx), and the sync still brings the message from the source.
EARLIEST_REPORT_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
FUTURE_SLACK_MS = 86_400_000  # a core's clock a little ahead of the hub's is normal
_TIME_TYPE = "reportTime must be epoch milliseconds (a number)"


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


def parse_report(body: bytes, *, max_depth: int, now_ms: int | None = None) -> ChatReport:
    """The report in `body`, or ReportError; `now_ms` is the hub's clock (epoch ms)."""
    try:
        data = loads_limited(body, max_depth=max_depth, max_bytes=None)  # the view checks size
    except JsonInputError as exc:
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
        report_time_ms=_report_time(
            data["reportTime"], now_ms=int(time.time() * 1000) if now_ms is None else now_ms
        ),
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


def _report_time(value, *, now_ms: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ReportError(_TIME_TYPE)
    try:
        number = value if isinstance(value, int) else float(value)
    except ValueError:
        raise ReportError(_TIME_TYPE) from None
    if isinstance(number, float) and not math.isfinite(number):
        raise ReportError("reportTime must be a finite number")
    if number <= 0:
        raise ReportError("reportTime must be a positive epoch time")
    whole = int(number)
    millis = whole * 1000 if whole < _SECONDS_LIMIT else whole
    if not EARLIEST_REPORT_MS <= millis <= now_ms + FUTURE_SLACK_MS:
        shown = str(value)  # JSON ints have at most 4300 digits: str() cannot fail
        shown = shown if len(shown) <= 40 else shown[:40] + "..."
        raise ReportError(
            f"reportTime {shown} is not between 2000-01-01 and one day past the hub's clock"
        )
    return millis


def _audio(value) -> bytes | None:
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ReportError("audioBase64 must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ReportError("audioBase64 is not valid base64") from None
