"""The search side index: build it, keep it up to date, prune it (docs/search.md).

Rows are (gram, message_id), the table's clustered primary key. Messages are indexed
in id order behind a cursor (SearchIndexState); a search also scans the messages above
the cursor, so a message is found from the moment it is stored. A message is indexed
once it has been stored for `HUB_SEARCH_GRACE_SECONDS`: ids are taken at INSERT but
become visible at COMMIT, so a younger id may still have an older one in flight below it.

Content that changes after it was indexed (a redaction) needs `reindex(ids)`; rows about
to be deleted may be dropped first with `forget(ids)`; `prune()` removes the rest of what
deleted messages left. Stale rows never change a result: every candidate is checked
against the message's current content.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from ..bulk import upsert
from ..models import ChatMessage, SearchGram, SearchIndexState
from .grams import document_grams

STATE = "messages"
BATCH = 2000


def _table() -> str:
    return connection.ops.quote_name(SearchGram._meta.db_table)


def grace() -> timedelta:
    return timedelta(seconds=settings.HUB_SEARCH_GRACE_SECONDS)


def index_enabled() -> bool:
    return settings.HUB_SEARCH_INDEX


def index_state() -> SearchIndexState:
    state, _ = SearchIndexState.objects.get_or_create(name=STATE)
    return state


def _write(messages: Iterable[tuple[int, str]]) -> int:
    rows = sorted((gram, pk) for pk, content in messages for gram in document_grams(content or ""))
    if rows:
        upsert(SearchGram._meta.db_table, ("gram", "message_id"), rows, key=("gram", "message_id"))
    return len(rows)


def index_pending(*, batch_size: int = BATCH, max_messages: int | None = None) -> dict:
    """Index the messages above the cursor that are older than the grace period.

    One transaction a batch, the state row locked: two runs at once take turns.
    Returns {"messages": n, "grams": n, "cursor": id}.
    """
    index_state()
    done = {"messages": 0, "grams": 0, "cursor": 0}
    while max_messages is None or done["messages"] < max_messages:
        size = (
            batch_size if max_messages is None else min(batch_size, max_messages - done["messages"])
        )
        with transaction.atomic():
            state = SearchIndexState.objects.select_for_update().get(name=STATE)
            ripe = timezone.now() - grace()
            rows = list(
                ChatMessage.objects.filter(pk__gt=state.cursor)
                .order_by("pk")
                .values_list("pk", "content", "stored_at")[:size]
            )
            batch = []
            for pk, content, stored_at in rows:
                if stored_at > ripe:
                    break
                batch.append((pk, content))
            done["cursor"] = state.cursor
            if not batch:
                break
            done["grams"] += _write(batch)
            state.cursor = batch[-1][0]
            state.messages_indexed += len(batch)
            state.save(update_fields=["cursor", "messages_indexed", "updated_at"])
            done["messages"] += len(batch)
            done["cursor"] = state.cursor
        if len(batch) < len(rows) or len(rows) < size:
            break
    return done


def reindex(message_ids: Iterable[int]) -> int:
    """Index these messages' current content again (after their content changed).

    Rows of the old content stay until `rebuild` (they only add candidates, which the
    search checks); call `forget(ids)` before the change to drop them at once.
    """
    count = 0
    ids = sorted(set(message_ids))
    for start in range(0, len(ids), BATCH):
        rows = ChatMessage.objects.filter(pk__in=ids[start : start + BATCH]).values_list(
            "pk", "content"
        )
        count += _write(rows)
    return count


def forget(message_ids: Iterable[int]) -> int:
    """Delete these messages' rows, computed from their current content (call it before
    deleting or changing the messages); returns the rows deleted."""
    deleted = 0
    ids = sorted(set(message_ids))
    for start in range(0, len(ids), BATCH):
        pairs = [
            (gram, pk)
            for pk, content in ChatMessage.objects.filter(
                pk__in=ids[start : start + BATCH]
            ).values_list("pk", "content")
            for gram in document_grams(content or "")
        ]
        for at in range(0, len(pairs), 1000):
            chunk = pairs[at : at + 1000]
            where = " OR ".join(["(gram = %s AND message_id = %s)"] * len(chunk))
            with connection.cursor() as cursor:
                cursor.execute(
                    f"DELETE FROM {_table()} WHERE {where}",  # noqa: S608 - placeholders only
                    [value for pair in chunk for value in pair],
                )
                deleted += cursor.rowcount
    return deleted


def prune(*, chunk: int = 20000) -> int:
    """Delete the rows of messages that no longer exist, one primary-key range at a time
    (short statements, no long lock); returns the rows deleted."""
    deleted = 0
    last = (-1, -1)
    table = _table()
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT gram, message_id FROM {table} WHERE gram > %s OR "  # noqa: S608
                "(gram = %s AND message_id > %s) ORDER BY gram, message_id LIMIT %s",
                [last[0], last[0], last[1], chunk],
            )
            rows = cursor.fetchall()
        if not rows:
            return deleted
        ids = {pk for _, pk in rows}
        alive = set(ChatMessage.objects.filter(pk__in=ids).values_list("pk", flat=True))
        gone = sorted(ids - alive)
        if gone:
            marks = ", ".join(["%s"] * len(gone))
            with connection.cursor() as cursor:
                # Every row of a gone message is an orphan: the range may be loose.
                cursor.execute(
                    f"DELETE FROM {table} WHERE gram BETWEEN %s AND %s "  # noqa: S608
                    f"AND message_id IN ({marks})",
                    [rows[0][0], rows[-1][0], *gone],
                )
                deleted += cursor.rowcount
        last = rows[-1]


def clear() -> None:
    """Empty the index and reset its cursor (the start of a rebuild)."""
    with connection.cursor() as cursor:
        if connection.vendor == "mysql":
            cursor.execute(f"TRUNCATE TABLE {_table()}")
        else:
            cursor.execute(f"DELETE FROM {_table()}")  # noqa: S608
    state = index_state()
    state.cursor = 0
    state.messages_indexed = 0
    state.rebuilt_at = timezone.now()
    state.save()


def index_size() -> dict:
    """Rows and bytes of the index table (estimates from the server's statistics on MySQL)."""
    table = SearchGram._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "mysql":
            cursor.execute(
                "SELECT table_rows, data_length + index_length FROM information_schema.tables "
                "WHERE table_schema = DATABASE() AND table_name = %s",
                [table],
            )
            row = cursor.fetchone() or (0, 0)
            return {"rows": int(row[0] or 0), "bytes": int(row[1] or 0)}
        cursor.execute(f"SELECT COUNT(*) FROM {_table()}")  # noqa: S608
        return {"rows": cursor.fetchone()[0], "bytes": None}


def index_status() -> dict:
    state = index_state()
    newest = ChatMessage.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    return {
        "enabled": index_enabled(),
        "cursor": state.cursor,
        "newest_message_id": newest,
        "ids_behind": max(0, newest - state.cursor),
        "messages_indexed": state.messages_indexed,
        "rebuilt_at": state.rebuilt_at.isoformat() if state.rebuilt_at else None,
        "updated_at": state.updated_at.isoformat() if state.updated_at else None,
        **{f"index_{k}": v for k, v in index_size().items()},
    }
