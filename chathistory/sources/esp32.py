"""Reads a xiaozhi-esp32-server database through a read-only alias (one per mysql source).

The environment's source (ESP32_DATABASE_URL) reads the settings' `esp32` alias; every
other mysql Source row reads the alias registry.py registers from its URL.

The tables and columns it reads are described in docs/protocols.md,
"Chat-history source". Raw SQL with the real column names: the hub never
writes here, and the connection itself is READ ONLY (settings.py). Each query
runs on its own in autocommit, so every batch sees what was committed when it
started.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connections

from ..devices import device_key, optional_device_key, source_spellings
from ..models import DEFAULT_SOURCE, Source, SourceKind
from .registry import SourceNotConfigured, source_alias

HISTORY_COLUMNS = (
    "id, mac_address, agent_id, session_id, chat_type, content, audio_id, "
    "COALESCE(created_at, updated_at)"
)


class SourceRow(NamedTuple):
    id: int
    mac: str | None
    agent_id: str | None
    session_id: str | None
    chat_type: Any
    content: Any
    audio_id: str | None
    created_at: datetime | None  # naive, in the source's time zone


class SourceDevice(NamedTuple):
    mac: str
    alias: str | None
    board: str | None
    firmware: str | None
    agent_id: str | None
    last_connected_at: datetime | None


class SourceAgent(NamedTuple):
    agent_id: str
    name: str | None
    chat_history_conf: int | None


def source_configured() -> bool:
    """Whether the environment's source (ESP32_DATABASE_URL) is set."""
    return settings.SOURCE_DATABASE_ALIAS in settings.DATABASES


def environment_source() -> Source:
    """The environment's source as an (unsaved) row: what Esp32Source() reads."""
    return Source(key=DEFAULT_SOURCE, kind=SourceKind.MYSQL, from_environment=True)


class Esp32Source:
    """One mysql source's reader; `name` is the Source row's key (the rows' `source`)."""

    def __init__(self, source: Source | None = None) -> None:
        self.source = source if source is not None else environment_source()
        self.name = self.source.key
        try:
            self.alias = source_alias(self.source)
        except SourceNotConfigured:
            if not self.source.from_environment:
                raise
            self.alias = settings.SOURCE_DATABASE_ALIAS  # not set: the first query says so
        self._tz: tzinfo | None = None

    # --- chat rows -----------------------------------------------------------
    def rows_after(self, cursor: int, limit: int) -> list[SourceRow]:
        return self._rows(
            f"SELECT {HISTORY_COLUMNS} FROM ai_agent_chat_history WHERE id > %s "
            "ORDER BY id LIMIT %s",
            [cursor, limit],
        )

    def rows_in_ranges(self, ranges: Iterable[tuple[int, int]]) -> list[SourceRow]:
        ranges = list(ranges)
        if not ranges:
            return []
        where = " OR ".join(["id BETWEEN %s AND %s"] * len(ranges))
        params = [bound for pair in ranges for bound in pair]
        return self._rows(
            f"SELECT {HISTORY_COLUMNS} FROM ai_agent_chat_history WHERE {where} ORDER BY id",
            params,
        )

    def rows_matching(
        self, *, mac: str | None, session_id: str | None, after: int, upto: int, limit: int
    ) -> list[SourceRow]:
        """Rows of one device (by its key) and/or session up to the cursor (a targeted refresh)."""
        where, params = ["id > %s", "id <= %s"], [after, upto]
        if mac:
            spellings = source_spellings(device_key(mac))
            where.append(f"mac_address IN ({', '.join(['%s'] * len(spellings))})")
            params.extend(spellings)
        if session_id:
            where.append("session_id = %s")
            params.append(session_id)
        return self._rows(
            f"SELECT {HISTORY_COLUMNS} FROM ai_agent_chat_history WHERE {' AND '.join(where)} "
            "ORDER BY id LIMIT %s",
            [*params, limit],
        )

    def first_id_since(self, since: datetime) -> int | None:
        """The first row created at or after `since` (a full scan, used once per backfill)."""
        naive = since.astimezone(self.time_zone()).replace(tzinfo=None)
        return self._scalar(
            "SELECT MIN(id) FROM ai_agent_chat_history WHERE created_at >= %s", [naive]
        )

    def max_id(self) -> int:
        return self._scalar("SELECT COALESCE(MAX(id), 0) FROM ai_agent_chat_history") or 0

    def _rows(self, sql: str, params: list) -> list[SourceRow]:
        with connections[self.alias].cursor() as cursor:
            cursor.execute(sql, params)
            return list(map(SourceRow._make, cursor.fetchall()))

    def _scalar(self, sql: str, params: list | None = None) -> Any:
        with connections[self.alias].cursor() as cursor:
            cursor.execute(sql, params or [])
            row = cursor.fetchone()
        return row[0] if row else None

    # --- the small tables ----------------------------------------------------
    def fingerprint(self) -> list:
        """Changes whenever a device or agent row is added, removed or edited."""
        with connections[self.alias].cursor() as cursor:
            cursor.execute(
                "SELECT (SELECT COUNT(*) FROM ai_device), "
                "(SELECT MAX(COALESCE(update_date, create_date)) FROM ai_device), "
                "(SELECT COUNT(*) FROM ai_agent), "
                "(SELECT MAX(COALESCE(updated_at, created_at)) FROM ai_agent)"
            )
            return [str(value) for value in cursor.fetchone()]

    def devices(self) -> list[SourceDevice]:
        """One per device key (chathistory/devices.py), named by it.

        mac_address is not unique in ai_device, and a MAC may be spelled several ways:
        the most recently updated row of a device wins.
        """
        with connections[self.alias].cursor() as cursor:
            cursor.execute(
                "SELECT mac_address, alias, board, app_version, agent_id, last_connected_at "
                "FROM ai_device WHERE mac_address IS NOT NULL AND mac_address <> '' "
                "ORDER BY COALESCE(update_date, create_date), id"
            )
            rows = cursor.fetchall()
        latest = {}
        for mac, *details in rows:
            key = optional_device_key(mac)
            if key is not None:
                latest[key] = SourceDevice(key, *details)
        return list(latest.values())

    def agents(self) -> list[SourceAgent]:
        with connections[self.alias].cursor() as cursor:
            cursor.execute("SELECT id, agent_name, chat_history_conf FROM ai_agent")
            return [SourceAgent(*row) for row in cursor.fetchall()]

    def titles_changed_since(self, since: datetime | None, limit: int) -> list[tuple]:
        """(session_id, title, changed_at) of titles written since `since` (naive source time)."""
        changed = "COALESCE(updated_at, created_at)"
        sql = f"SELECT session_id, title, {changed} FROM ai_agent_chat_title"
        params: list = []
        if since is not None:
            sql += f" WHERE {changed} >= %s"
            params.append(since)
        sql += f" ORDER BY {changed} LIMIT %s"
        params.append(limit)
        with connections[self.alias].cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall())

    # --- time ----------------------------------------------------------------
    def time_zone(self) -> tzinfo:
        """The zone of the source's naive DATETIMEs: the server's (for the environment's
        source, HUB_SOURCE_TIME_ZONE if set)."""
        if self._tz is None:
            if settings.HUB_SOURCE_TIME_ZONE and self.source.from_environment:
                self._tz = ZoneInfo(settings.HUB_SOURCE_TIME_ZONE)
            else:
                seconds = self._scalar("SELECT TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(), NOW())")
                quarter_hours = round(int(seconds or 0) / 900)
                self._tz = timezone(timedelta(seconds=quarter_hours * 900))
        return self._tz

    def aware(self, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=self.time_zone()).astimezone(UTC)

    def naive(self, value: datetime) -> datetime:
        return value.astimezone(self.time_zone()).replace(tzinfo=None)

    def connection_id(self) -> int:
        return int(self._scalar("SELECT CONNECTION_ID()"))
