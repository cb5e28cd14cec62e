"""Multi-row upserts for the sync's hot path, rendered without the ORM.

`bulk_create(update_conflicts=True)` compiles every field of every object
(about 150 µs a row) and the driver's generic `literal()` costs another
25 µs: a backfill of a million rows spent most of its time there. Here a
batch becomes a few multi-row `INSERT ... ON DUPLICATE KEY UPDATE`
statements on MySQL, each value escaped by the driver's own
`string_literal`; on SQLite (the one-process hub) it is one `executemany`
of `INSERT ... ON CONFLICT`, which runs in-process anyway.

Assignments are written with `NEW(column)` for the incoming value, rewritten
per vendor (`VALUES(column)` / `excluded.column`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from django.db import connection

# Bytes per statement: far below MySQL's max_allowed_packet (16 MiB by default).
MAX_STATEMENT_BYTES = 2 * 2**20


class Json:
    """A JSON column's value (rendered with json.dumps, as the ORM's JSONField does)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


def upsert(
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence],
    *,
    key: Sequence[str],
    updates: Sequence[str] = (),
) -> None:
    """Insert `rows`; a row whose unique `key` exists gets `updates` (none: left alone)."""
    if not rows:
        return
    if connection.vendor == "mysql":
        _mysql_upsert(table, columns, rows, key, updates)
    else:
        _sqlite_upsert(table, columns, rows, key, updates)


def render(update: str, new: str) -> str:
    """`count = count + NEW(count)` -> the vendor's spelling of the incoming value."""
    out, rest = "", update
    while "NEW(" in rest:
        head, rest = rest.split("NEW(", 1)
        name, rest = rest.split(")", 1)
        out += head + new.format(name)
    return out + rest


def _mysql_upsert(table, columns, rows, key, updates) -> None:
    # `key = key` keeps the existing row without the side effects of INSERT IGNORE
    # (which would also turn data errors into warnings).
    assignments = [render(u, "VALUES({})") for u in updates] or [f"{key[0]} = {key[0]}"]
    head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ".encode()
    tail = (" ON DUPLICATE KEY UPDATE " + ", ".join(assignments)).encode()
    connection.ensure_connection()
    literal = _literal_function(connection.connection.string_literal)
    with connection.cursor() as cursor:
        chunk: list[bytes] = []
        size = 0
        for row in rows:
            values = b"(%s)" % b",".join(map(literal, row))
            if chunk and size + len(values) > MAX_STATEMENT_BYTES:
                cursor.execute(head + b",".join(chunk) + tail)
                chunk, size = [], 0
            chunk.append(values)
            size += len(values) + 1
        cursor.execute(head + b",".join(chunk) + tail)


def _literal_function(string_literal):
    # Short strings repeat in every row (source, origin, role, agent ids): escaped once.
    short: dict[str, bytes] = {}

    def literal(value) -> bytes:
        kind = type(value)
        if kind is str:
            if len(value) <= 40:
                done = short.get(value)
                if done is None:
                    done = short[value] = string_literal(value.encode("utf-8"))
                return done
            return string_literal(value.encode("utf-8"))
        if value is None:
            return b"NULL"
        if kind is int:
            return b"%d" % value
        if kind is datetime:  # naive UTC, as Django stores datetimes on MySQL
            if value.tzinfo is not None:
                if value.utcoffset():
                    value = value.astimezone(UTC)
                return b"'" + value.isoformat(" ")[:-6].encode() + b"'"  # minus "+00:00"
            return b"'" + value.isoformat(" ").encode() + b"'"
        if kind is bool:
            return b"1" if value else b"0"
        if kind is Json:
            return string_literal(json.dumps(value.value).encode("utf-8"))
        if isinstance(value, str):  # TextChoices members and other str subclasses
            return literal(str.__str__(value))
        raise TypeError(f"no SQL literal for {kind.__name__}")

    return literal


def _sqlite_upsert(table, columns, rows, key, updates) -> None:
    assignments = [render(u, "excluded.{}") for u in updates]
    action = "DO UPDATE SET " + ", ".join(assignments) if assignments else "DO NOTHING"
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))}) ON CONFLICT({', '.join(key)}) {action}"
    )
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.executemany(sql, [[_sqlite_value(v, adapt) for v in row] for row in rows])


def _sqlite_value(value, adapt):
    if isinstance(value, datetime):
        return adapt(value)
    if isinstance(value, Json):
        return json.dumps(value.value)
    return value
