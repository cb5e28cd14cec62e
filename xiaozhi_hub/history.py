"""What the apps' health histories share: bucket sizes, the REST ranges, retention, states.

Every history (endpoints, MCP servers, the chat sync, report ingest) keeps
per-minute and per-hour buckets, each named by its start (UTC, aligned to the
minute or hour). A REST `range` picks the resolution: 24h reads the last 1,440
minute buckets, 7d and 30d the last 168 and 720 hour buckets, the current
(unfinished) bucket included. Imports no app.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from rest_framework.exceptions import ValidationError

MINUTE = "minute"
HOUR = "hour"
RESOLUTIONS = (MINUTE, HOUR)
BUCKET_SECONDS = {MINUTE: 60, HOUR: 3600}

# A bucket's colour on the console's heartbeat bar.
UP, DOWN, PARTIAL, NO_DATA = "up", "down", "partial", "none"
BUCKET_STATES = (UP, DOWN, PARTIAL, NO_DATA)


@dataclass(frozen=True)
class HistoryRange:
    name: str
    resolution: str
    buckets: int

    @property
    def bucket_seconds(self) -> int:
        return BUCKET_SECONDS[self.resolution]

    def first_start(self, now: datetime) -> datetime:
        """The start of the oldest bucket in the range (the newest is the current one)."""
        return bucket_start(now, self.resolution) - timedelta(
            seconds=self.bucket_seconds * (self.buckets - 1)
        )


RANGES = {
    "24h": HistoryRange("24h", MINUTE, 24 * 60),
    "7d": HistoryRange("7d", HOUR, 7 * 24),
    "30d": HistoryRange("30d", HOUR, 30 * 24),
}
DEFAULT_RANGE = "24h"


def requested_range(request) -> HistoryRange:
    """The `range` query parameter of a REST request (absent: 24h); anything else is a
    400 that lists the allowed ranges."""
    name = request.query_params.get("range") or DEFAULT_RANGE
    found = RANGES.get(name)
    if found is None:
        allowed = ", ".join(RANGES)
        raise ValidationError({"range": [f"unknown range {name[:20]!r}; allowed: {allowed}"]})
    return found


def bucket_start(moment: datetime, resolution: str) -> datetime:
    """The start of the bucket holding `moment` (aware, UTC)."""
    moment = moment.astimezone(UTC)
    if resolution == HOUR:
        return moment.replace(minute=0, second=0, microsecond=0)
    return moment.replace(second=0, microsecond=0)


def retention_cutoff(resolution: str, now: datetime) -> datetime:
    """Buckets that start before this are deleted (HUB_HISTORY_MINUTE_DAYS / _HOUR_DAYS)."""
    days = (
        settings.HUB_HISTORY_HOUR_DAYS if resolution == HOUR else settings.HUB_HISTORY_MINUTE_DAYS
    )
    return bucket_start(now, resolution) - timedelta(days=days)


def bucket_state(good: float, bad: float) -> str:
    """up: only good; down: only bad; partial: both; none: neither (no data)."""
    if good and bad:
        return PARTIAL
    if bad:
        return DOWN
    return UP if good else NO_DATA


def percent(part: float, whole: float) -> float | None:
    """part / whole in %, 3 decimals; None when there is nothing to divide."""
    return round(100.0 * part / whole, 3) if whole else None


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()
