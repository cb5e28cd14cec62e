"""Reads: which endpoints may recall which agent, and that agent's messages.

Every read is scoped by a `Scope`: the agent's primary key AND its source key (an
agent is (source, agent id), so rows of another agent or source never match),
user and assistant messages only (tool rows may hold tool arguments), and no
older than the access row's `days`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from chathistory.models import ChatMessage, Role
from chathistory.search.query import message_search

from .models import HistoryAccess

SPOKEN = (Role.USER, Role.AGENT)
SEARCH_OVERFETCH = 3  # matches read per answer row: the search has no role filter
ROW_FIELDS = ("id", "created_at", "role", "content", "session__session_id", "device__alias")


@dataclass(frozen=True)
class Scope:
    """What one endpoint may read (from its HistoryAccess row)."""

    agent_pk: int
    source: str
    max_rows: int
    max_chars: int
    days: int  # 0: no limit


def access_scopes() -> dict[int, Scope]:
    """Endpoint id → Scope, for every enabled access row."""
    rows = HistoryAccess.objects.filter(enabled=True).select_related("agent")
    return {
        row.endpoint_id: Scope(
            agent_pk=row.agent_id,
            source=row.agent.source,
            max_rows=row.max_rows,
            max_chars=row.max_chars,
            days=row.days,
        )
        for row in rows
    }


def _scoped(queryset: QuerySet[ChatMessage], scope: Scope) -> QuerySet[ChatMessage]:
    queryset = queryset.filter(agent_id=scope.agent_pk, source=scope.source, role__in=SPOKEN)
    if scope.days:
        queryset = queryset.filter(created_at__gte=timezone.now() - timedelta(days=scope.days))
    return queryset


def history_recent(*, scope: Scope, limit: int, device: str | None = None) -> list[dict]:
    """The agent's last `limit` messages (optionally of one of its devices, by MAC or
    alias), oldest first."""
    queryset = _scoped(ChatMessage.objects.all(), scope)
    if device:
        queryset = queryset.filter(
            Q(device__mac__iexact=device) | Q(device__alias__iexact=device),
            device__source=scope.source,
        )
    rows = list(queryset.order_by("-created_at", "-id").values(*ROW_FIELDS)[:limit])
    rows.reverse()
    return rows


def history_search(
    *,
    scope: Scope,
    query: str,
    since: datetime | None,
    until: datetime | None,
    limit: int,
) -> list[dict]:
    """Up to `limit` of the agent's messages holding `query`, newest first."""
    if scope.days:
        floor = timezone.now() - timedelta(days=scope.days)
        since = floor if since is None else max(since, floor)
    matches = message_search(
        text=query,
        agent_pk=scope.agent_pk,
        source=scope.source,
        since=since,
        until=until,
        limit=limit * SEARCH_OVERFETCH,  # tool rows among the matches are dropped below
    )
    # The scope again over the matches' ids: whatever the search function does,
    # nothing outside the agent, its source, the spoken roles and the days passes.
    ids = [message.pk for message in matches]
    rows = _scoped(ChatMessage.objects.filter(id__in=ids), scope)
    return list(rows.order_by("-created_at", "-id").values(*ROW_FIELDS)[:limit])


def history_session(*, scope: Scope, session_id: str, limit: int) -> tuple[list[dict], int]:
    """The first `limit` messages of the agent's session(s) named `session_id`, oldest
    first, and how many the session holds."""
    queryset = _scoped(ChatMessage.objects.filter(session__session_id=session_id), scope)
    total = queryset.count()
    rows = list(queryset.order_by("created_at", "id").values(*ROW_FIELDS)[:limit])
    return rows, total


# --- the REST API's reads ----------------------------------------------------------


def access_queryset() -> QuerySet[HistoryAccess]:
    return HistoryAccess.objects.select_related("endpoint", "agent").order_by("endpoint_id")


def access_get(*, endpoint_id: int) -> HistoryAccess | None:
    return access_queryset().filter(endpoint_id=endpoint_id).first()


def access_payload(access: HistoryAccess) -> dict:
    agent = access.agent
    return {
        "endpoint_id": access.endpoint_id,
        "endpoint_name": access.endpoint.name,
        "agent": {
            "id": agent.pk,
            "source": agent.source,
            "agent_id": agent.agent_id,
            "name": agent.name,
        },
        "enabled": access.enabled,
        "max_rows": access.max_rows,
        "max_chars": access.max_chars,
        "days": access.days,
        "updated_at": access.updated_at.isoformat(),
    }
