"""An endpoint's state changes folded into a timeline a person can read.

The stored history is one row per change (connecting → connected → backoff →
connecting → backoff → ...). Read as runs of one state, oldest first, the short
dials in between dropped and repeated runs merged, it says what happened:
"connected 3 h 12 min → backoff 40 s ×3 (network: refused) → connected".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from endpoints import status_display

# A dial this short after a backoff is part of the reconnecting, not a run of its own.
SHORT_DIAL_SECONDS = 10.0
DOWN_STATES = ("backoff", "failed")


@dataclass
class Run:
    """A stretch of time in one state; `end` None while it lasts."""

    state: str
    start: datetime
    end: datetime | None
    times: int = 1  # consecutive runs merged into this one (reconnect attempts)
    error_class: str = ""
    error: str = ""  # the last error seen in it (masked by the pool)

    def seconds(self, now: datetime) -> float:
        return ((self.end or now) - self.start).total_seconds()

    @property
    def down(self) -> bool:
        return self.state in DOWN_STATES


def state_runs(events: list[dict], *, now: datetime | None = None) -> list[Run]:
    """The runs of `events` (endpoint_events' dicts, newest first), oldest first."""
    now = now or timezone.now()
    changes = [e for e in reversed(events) if status_display.as_datetime(e.get("at")) is not None]
    runs: list[Run] = []
    for index, event in enumerate(changes):
        start = status_display.as_datetime(event["at"])
        following = changes[index + 1] if index + 1 < len(changes) else None
        end = status_display.as_datetime(following["at"]) if following else None
        runs.append(
            Run(
                state=event["state"],
                start=start,
                end=end,
                error_class=event.get("errorClass") or "",
                error=event.get("error") or "",
            )
        )
    kept: list[Run] = []
    for position, run in enumerate(runs):
        if _routine_dial(runs, position, now=now):
            if kept:
                kept[-1].end = run.end  # the run before it lasts until the next one
            continue
        kept.append(run)
    return _merged(kept)


def _routine_dial(runs: list[Run], position: int, *, now: datetime) -> bool:
    """A short dial after a backoff, a start or an enable: part of the reconnecting.
    After a connection (a drop, a manual reconnect) it stays: it says one happened."""
    run = runs[position]
    if run.state != "connecting" or position == len(runs) - 1:
        return False
    if run.seconds(now) >= SHORT_DIAL_SECONDS:
        return False
    return position == 0 or runs[position - 1].state not in ("connected", "degraded")


def _merged(runs: list[Run]) -> list[Run]:
    merged: list[Run] = []
    for run in runs:
        previous = merged[-1] if merged else None
        if previous is not None and previous.state == run.state:
            previous.end = run.end
            previous.times += 1
            if run.error:
                previous.error, previous.error_class = run.error, run.error_class
            continue
        merged.append(run)
    return merged


def timeline(events: list[dict], *, now: datetime) -> dict:
    """What the change page shows: the runs in words, and each change with its time."""
    runs = [
        {
            "state": run.state,
            "label": status_display.state_run_label(run.state),
            "duration": status_display.duration(run.seconds(now)),
            "ongoing": run.end is None,
            "times": run.times if run.down else 1,
            "started": status_display.when(run.start),
            "error": status_display.error_text(run.error_class, run.error),
        }
        for run in state_runs(events, now=now)
    ]
    changes = [
        {
            "at": status_display.when(event["at"]),
            "previous": status_display.state_run_label(event["previousState"])
            if event["previousState"]
            else "",
            "state": status_display.state_run_label(event["state"]),
            "error": status_display.error_text(event["errorClass"], event["error"]),
        }
        for event in events
    ]
    return {"runs": runs, "changes": changes, "shown": len(events)}
