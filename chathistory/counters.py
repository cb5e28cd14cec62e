"""Session and device counters, added as deltas in one statement per table.

`INSERT ... ON DUPLICATE KEY UPDATE count = count + new` (MySQL) /
`ON CONFLICT DO UPDATE` (SQLite), through chathistory.bulk, is atomic, so the sync and concurrent
report ingests never lose each other's increments, and a batch costs one
statement per table instead of one per session.

Rows are found by primary key, in key order: the primary-key record is the lock
both writers already hold (the device row) or take in the same order, whereas
an upsert on a secondary unique key (mac) also locks that index's record, which
a transaction holding only the primary record could deadlock with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection

from .bulk import upsert
from .models import ChatSession, Device


@dataclass
class Delta:
    count: int = 0
    first_at: datetime | None = None
    last_at: datetime | None = None
    last_text: str = ""
    device_id: int | None = None
    agent_id: int | None = None
    extra: dict = field(default_factory=dict)

    def add(self, created_at: datetime, text: str) -> None:
        self.count += 1
        if self.first_at is None or created_at < self.first_at:
            self.first_at = created_at
        if self.last_at is None or created_at >= self.last_at:
            self.last_at, self.last_text = created_at, text


def _greatest(column: str, new: str) -> str:
    fn = "GREATEST" if connection.vendor == "mysql" else "MAX"
    return f"{fn}(COALESCE({column}, {new}), {new})"


def _least(column: str, new: str) -> str:
    fn = "LEAST" if connection.vendor == "mysql" else "MIN"
    return f"{fn}(COALESCE({column}, {new}), {new})"


# A session is named by (primary key, session id): the key finds the row (session ids are
# only unique per device); the session id is there because the INSERT half needs it.
SessionRef = tuple[int, str]


def add_session_deltas(deltas: dict[SessionRef, Delta]) -> None:
    rows = [
        [pk, sid, "", d.count, d.first_at, d.last_at, d.device_id, d.agent_id]
        for (pk, sid), d in sorted(deltas.items())
        if d.count
    ]
    upsert(
        ChatSession._meta.db_table,
        [
            "id",
            "session_id",
            "title",
            "message_count",
            "started_at",
            "last_message_at",
            "device_id",
            "agent_id",
        ],
        rows,
        key=["id"],
        updates=[
            "message_count = message_count + NEW(message_count)",
            "started_at = " + _least("started_at", "NEW(started_at)"),
            "last_message_at = " + _greatest("last_message_at", "NEW(last_message_at)"),
            "device_id = COALESCE(device_id, NEW(device_id))",
            "agent_id = COALESCE(agent_id, NEW(agent_id))",
        ],
    )


# A device is named by (primary key, identifier), as a session is (SessionRef).
DeviceRef = tuple[int, str]


def add_device_deltas(deltas: dict[DeviceRef, Delta]) -> None:
    rows = [
        [pk, mac, "", "", "", d.last_text, d.count, d.last_at]
        for (pk, mac), d in sorted(deltas.items())
        if d.count
    ]
    newer = "NEW(last_message_at) >= COALESCE(last_message_at, NEW(last_message_at))"
    # MySQL applies assignments left to right: last_message before last_message_at.
    upsert(
        Device._meta.db_table,
        [
            "id",
            "mac",
            "alias",
            "board",
            "firmware",
            "last_message",
            "message_count",
            "last_message_at",
        ],
        rows,
        key=["id"],
        updates=[
            f"last_message = CASE WHEN {newer} THEN NEW(last_message) ELSE last_message END",
            "message_count = message_count + NEW(message_count)",
            "last_message_at = " + _greatest("last_message_at", "NEW(last_message_at)"),
        ],
    )
