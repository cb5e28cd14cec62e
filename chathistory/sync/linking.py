"""Pairing source rows with the reports that arrived first through the ingest endpoint.

The core reports a message to the hub and inserts it into the source; when
the sync reads that row, the message is already stored. It is linked (the
report's message gets the source id), not copied a second time.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings

from ..models import ChatMessage
from .convert import Converted
from .references import References


def link_reports(fresh: list[Converted], refs: References, source: str) -> dict[int, int]:
    """Source rows that arrived first as reports: attach them to the report's message.

    Returns {source_id: message id}. The batch holds its device rows' locks
    (References.ensure; the ingest locks the same row), so a report and its
    source row can never both be inserted by two transactions that did not
    see each other. Candidates
    are the unpaired reports within the batch's time span (one range query);
    a row takes the nearest one with its match key, within HUB_REPORT_MATCH_WINDOW.
    """
    keyed = [i for i in fresh if i.row.mac]
    if not keyed:
        return {}
    window = timedelta(seconds=settings.HUB_REPORT_MATCH_WINDOW)
    candidates = _unpaired_reports(keyed, window, source)
    matched: dict[int, int] = {}
    for item in keyed:
        pool = candidates.get(item.key)
        if not pool:
            continue
        best = min(pool, key=lambda c: abs(c[1] - item.created_at))
        if abs(best[1] - item.created_at) > window:
            continue
        pool.remove(best)
        ChatMessage.objects.filter(pk=best[0]).update(
            source=source,
            source_id=item.row.id,
            audio_id=item.row.audio_id,
            agent_id=refs.agents.get(item.row.agent_id),
            created_at=item.created_at,
        )
        matched[item.row.id] = best[0]
    return matched


def _unpaired_reports(keyed: list[Converted], window: timedelta, source: str) -> dict[str, list]:
    """{match key: [[message id, created_at], ...]} of `source`'s reports no source row
    claimed yet (reports carry their server's source: another server's row with the same
    MAC and text is never paired with them)."""
    wanted = {i.key for i in keyed}
    candidates: dict[str, list] = {}
    reports = ChatMessage.objects.filter(
        source=source,
        source_id__isnull=True,
        origin=ChatMessage.Origin.REPORT,
        created_at__gte=min(i.created_at for i in keyed) - window,
        created_at__lte=max(i.created_at for i in keyed) + window,
    )
    for pk, key, created in reports.values_list("id", "match_key", "created_at"):
        if key in wanted:
            candidates.setdefault(key, []).append([pk, created])
    return candidates
