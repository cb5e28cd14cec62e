"""Text search with the side index: candidates from the grams, checked with LIKE.

A search for `text` returns exactly the messages `content LIKE '%text%'` (the ORM's
`icontains`) returns, within the same filters; the index only decides which rows are
checked:

- the query's grams (grams.query_grams), counted (each count stops early), rarest first;
- the rarest gram's posting list, joined with the next rarest ones on the primary key,
  gives the candidate ids (plus the messages too long to index, the LONG gram);
- the messages above the index's cursor (not indexed yet) are always checked;
- no usable gram (one CJK character, two Latin letters), no index, or too many
  candidates (a common word: a newest-first scan finds a page quickly): the plain scan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Q, QuerySet

from ..models import ChatMessage
from .grams import LONG, query_grams
from .index import _table, index_enabled, index_state

# Per index (its state row and last rebuild): a rebuilt index counts afresh.
_COMMON = "chathistory:search:common:{}:{}:{}"
COMMON_SECONDS = 3600
# Grams looked at per query (spread over the query), and joined per candidate read.
MAX_QUERY_GRAMS = 12
JOINED_GRAMS = 4


def candidate_limit() -> int:
    return settings.HUB_SEARCH_CANDIDATE_LIMIT


def drive_limit() -> int:
    return settings.HUB_SEARCH_DRIVE_LIMIT


def worth_reading(messages: int, page: int = 50) -> int:
    """Candidates beyond which a newest-first LIKE scan is cheaper than the index.

    Reading c candidates costs about c primary-key reads (~20 µs each, sorted after);
    with about c matches among n messages, a scan finds a page after ~page * n / c rows
    (~3 µs each): equal at c = sqrt(0.15 * page * n).
    """
    return max(200, int((0.15 * page * max(messages, 1)) ** 0.5))


@dataclass
class SearchPlan:
    """How a search runs: `ids` None is a plain scan; else the candidates + the tail."""

    mode: str  # "index", "scan"
    reason: str
    ids: list[int] | None = None
    cursor: int = 0
    grams: int = 0


def _spread(grams: list[int], n: int) -> list[int]:
    if len(grams) <= n:
        return grams
    step = len(grams) / n
    return [grams[int(i * step)] for i in range(n)]


def _bounded_count(cursor, table: str, gram: int, bound: int) -> int:
    cursor.execute(
        f"SELECT COUNT(*) FROM (SELECT 1 FROM {table} WHERE gram = %s LIMIT %s) x",  # noqa: S608
        [gram, bound],
    )
    return cursor.fetchone()[0]


def search_plan(*, text: str) -> SearchPlan:
    if not index_enabled():
        return SearchPlan("scan", "index turned off")
    grams = query_grams(text)
    if not grams:
        return SearchPlan("scan", "no gram in the query")
    state = index_state()
    if state.cursor <= 0:
        return SearchPlan("scan", "index not built")
    table, drive = _table(), drive_limit()
    cap = min(candidate_limit(), worth_reading(state.cursor))
    spread = _spread(grams, MAX_QUERY_GRAMS)
    # Grams found common recently are not counted again (counting one is the dearest
    # part of a plan): they would not drive the search anyway.
    version = (state.pk, state.rebuilt_at.timestamp() if state.rebuilt_at else 0)
    keys = {gram: _COMMON.format(*version, gram) for gram in spread}
    common = cache.get_many(list(keys.values()))
    with connection.cursor() as cursor:
        counted: list[tuple[int, int]] = []
        smallest = drive + 1
        for gram in spread:
            if keys[gram] in common:
                continue
            n = _bounded_count(cursor, table, gram, smallest)
            counted.append((n, gram))
            smallest = min(smallest, n + 1)
            if n > drive:
                cache.set(keys[gram], 1, COMMON_SECONDS)
        counted.sort()
        if not counted or counted[0][0] > drive:
            return SearchPlan("scan", "every gram is common", grams=len(grams))
        chosen = [gram for _, gram in counted[:JOINED_GRAMS]]
        joins = "".join(
            f" JOIN {table} g{i} ON g{i}.gram = %s AND g{i}.message_id = g0.message_id"
            for i in range(1, len(chosen))
        )
        cursor.execute(
            f"SELECT g0.message_id FROM {table} g0{joins} "  # noqa: S608 - placeholders only
            "WHERE g0.gram = %s AND g0.message_id <= %s LIMIT %s",
            [*chosen[1:], chosen[0], state.cursor, cap + 1],
        )
        ids = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            f"SELECT message_id FROM {table} WHERE gram = %s LIMIT %s",  # noqa: S608
            [LONG, cap + 1],
        )
        ids += [row[0] for row in cursor.fetchall()]
    if len(ids) > cap:
        return SearchPlan("scan", "too many candidates", grams=len(grams))
    return SearchPlan("index", "", ids=sorted(set(ids)), cursor=state.cursor, grams=len(grams))


def message_text_filter(*, text: str) -> Q:
    """The filter of the messages whose content contains `text` (as LIKE '%text%')."""
    match = Q(content__icontains=text)
    plan = search_plan(text=text)
    if plan.ids is None:
        return match
    return match & (Q(pk__in=plan.ids) | Q(pk__gt=plan.cursor))


def message_search(
    *,
    text: str,
    source: str | None = None,
    device_pk: int | None = None,
    agent_pk: int | None = None,
    session_pk: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    before: tuple[datetime, int] | None = None,
) -> list[ChatMessage]:
    """Messages containing `text` (case-insensitive for Latin, as LIKE), newest first.

    `before` = (created_at, id) of the last message of the previous page.
    """
    queryset: QuerySet[ChatMessage] = ChatMessage.objects.all()
    if text:
        queryset = queryset.filter(message_text_filter(text=text))
    if source is not None:
        queryset = queryset.filter(source=source)
    if device_pk is not None:
        queryset = queryset.filter(device_id=device_pk)
    if agent_pk is not None:
        queryset = queryset.filter(agent_id=agent_pk)
    if session_pk is not None:
        queryset = queryset.filter(session_id=session_pk)
    if since is not None:
        queryset = queryset.filter(created_at__gte=since)
    if until is not None:
        queryset = queryset.filter(created_at__lt=until)
    if before is not None:
        at, pk = before
        queryset = queryset.filter(Q(created_at__lt=at) | Q(created_at=at, pk__lt=pk))
    limit = max(0, min(int(limit), 500))
    return list(queryset.order_by("-created_at", "-id")[:limit])
