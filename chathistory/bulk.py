"""Multi-row upserts for the sync's hot path, rendered without the ORM.

`bulk_create(update_conflicts=True)` compiles every field of every object
(about 150 µs a row) and the driver's generic `literal()` costs another
25 µs: a backfill of a million rows spent most of its time there. Here a
batch becomes a few multi-row `INSERT ... ON DUPLICATE KEY UPDATE`
statements on MySQL, each value escaped by the driver's own
`string_literal`; on SQLite (the one-process hub) it is one `executemany`
of `INSERT ... ON CONFLICT`, which runs in-process anyway.

On MySQL the statements of one call are pipelined: a statement is sent
(`send_query`) and the next one rendered while the server executes it, its
result read only before the next is sent. Rendering is the client's work and
executing the server's, on different cores: overlapped, a backfill costs
about the longer of the two instead of their sum. `rows` may be a generator,
so building the rows overlaps too.

Assignments are written with `NEW(column)` for the incoming value, rewritten
per vendor (`VALUES(column)` / `excluded.column`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from django.db import connection

# Bytes per statement: far below MySQL's max_allowed_packet (16 MiB by default), and
# small enough that a batch is several statements, each rendered while the last runs.
MAX_STATEMENT_BYTES = 512 * 2**10


class Json:
    """A JSON column's value (rendered with json.dumps, as the ORM's JSONField does)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


def upsert(
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence],
    *,
    key: Sequence[str],
    updates: Sequence[str] = (),
) -> None:
    """Insert `rows`; a row whose unique `key` exists gets `updates` (none: left alone)."""
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
    connection.validate_no_broken_transaction()
    connection.ensure_connection()
    literal = _literal_function(connection.connection.string_literal)
    with connection.wrap_database_errors, _Pipeline(connection.connection) as pipeline:
        chunk: list[bytes] = []
        size = 0
        for row in rows:
            values = b"(%s)" % b",".join(map(literal, row))
            if chunk and size + len(values) > MAX_STATEMENT_BYTES:
                pipeline.send(head + b",".join(chunk) + tail)
                chunk, size = [], 0
            chunk.append(values)
            size += len(values) + 1
        if chunk:
            pipeline.send(head + b",".join(chunk) + tail)


class _Pipeline:
    """At most one statement in flight on a mysqlclient connection.

    `send` waits for the previous statement's result, then sends the next without
    waiting for it; leaving the block waits for the last one. Its error (a duplicate,
    a bad value) is raised there, as `execute` would have raised it; a statement still
    in flight when rendering fails is waited for first, so the connection stays usable.
    """

    def __init__(self, raw):
        self.raw, self.pending = raw, False

    def __enter__(self) -> _Pipeline:
        return self

    def send(self, sql: bytes) -> None:
        self.wait()
        self.raw.send_query(sql)
        self.pending = True

    def wait(self) -> None:
        if self.pending:
            self.pending = False
            self.raw.read_query_result()

    def __exit__(self, kind, error, traceback) -> None:
        if kind is None:
            self.wait()
            return
        try:
            self.wait()
        except Exception:  # noqa: BLE001, S110 - the error that stopped the block is the one raised
            pass


def _literal_function(string_literal):
    # Short strings repeat in every row (source, origin, role, agent ids): escaped once.
    short: dict[str, bytes] = {}
    # So do datetime objects (a batch's `stored_at` is one), found by identity (cheaper
    # than hashing an aware datetime); an entry holds its object, so its id stays its own.
    moments: dict[int, tuple[datetime, bytes]] = {}

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
        if kind is datetime:
            known = moments.get(id(value))
            if known is None:
                if len(moments) >= 64:
                    moments.clear()
                known = moments[id(value)] = (value, _datetime_literal(value))
            return known[1]
        if kind is bool:
            return b"1" if value else b"0"
        if kind is Json:
            return string_literal(json.dumps(value.value).encode("utf-8"))
        if isinstance(value, str):  # TextChoices members and other str subclasses
            return literal(str.__str__(value))
        raise TypeError(f"no SQL literal for {kind.__name__}")

    return literal


def _datetime_literal(value: datetime) -> bytes:
    """Naive UTC, as Django stores datetimes on MySQL."""
    if value.tzinfo is not None:
        if value.utcoffset():
            value = value.astimezone(UTC)
        return b"'" + value.isoformat(" ")[:-6].encode() + b"'"  # minus "+00:00"
    return b"'" + value.isoformat(" ").encode() + b"'"


def _sqlite_upsert(table, columns, rows, key, updates) -> None:
    adapt = connection.ops.adapt_datetimefield_value
    rows = [[_sqlite_value(v, adapt) for v in row] for row in rows]
    if not rows:
        return
    assignments = [render(u, "excluded.{}") for u in updates]
    action = "DO UPDATE SET " + ", ".join(assignments) if assignments else "DO NOTHING"
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))}) ON CONFLICT({', '.join(key)}) {action}"
    )
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _sqlite_value(value, adapt):
    if isinstance(value, datetime):
        return adapt(value)
    if isinstance(value, Json):
        return json.dumps(value.value)
    return value
