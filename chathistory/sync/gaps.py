"""Ids the cursor passed before they were visible, kept as SyncGap until they show up.

MySQL hands out AUTO_INCREMENT ids at INSERT but rows appear at COMMIT, in any
order: a row whose transaction commits late has an id below the cursor. Such
ids are re-read on every run until the row appears, or HUB_SYNC_GAP_GRACE
passes (the id was rolled back or deleted).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from ..models import SyncGap

logger = logging.getLogger(__name__)

GAPS_PER_QUERY = 500


def open_gaps(source: str) -> Iterator[list[SyncGap]]:
    """The open gaps, GAPS_PER_QUERY at a time (one source query each).

    All are read before the first chunk is handed out: re-checking a chunk replaces its rows.
    """
    gaps = list(SyncGap.objects.filter(source=source).order_by("first_id"))
    for start in range(0, len(gaps), GAPS_PER_QUERY):
        yield gaps[start : start + GAPS_PER_QUERY]


def missing_ranges(first: int, last: int, seen: set[int]) -> list[tuple[int, int]]:
    """The runs of ids in [first, last] that are not in `seen`."""
    ranges, expected = [], first
    for source_id in sorted(i for i in seen if first <= i <= last):
        if source_id > expected:
            ranges.append((expected, source_id - 1))
        expected = source_id + 1
    if expected <= last:
        ranges.append((expected, last))
    return ranges


def record_gaps(source: str, after: int, upto: int, seen: set[int]) -> None:
    """The ids in (after, upto] a batch did not return."""
    now = timezone.now()
    SyncGap.objects.bulk_create(
        SyncGap(source=source, first_id=first, last_id=last, seen_at=now)
        for first, last in missing_ranges(after + 1, upto, seen)
    )


def shrink_gaps(rechecked: list[SyncGap], seen: set[int]) -> None:
    """Keep the still-missing parts of each re-read gap, unless its grace is over."""
    expired_before = timezone.now() - timedelta(seconds=settings.HUB_SYNC_GAP_GRACE)
    keep = []
    for gap in rechecked:
        if gap.seen_at < expired_before:
            logger.info("chat sync: ids %s..%s never appeared", gap.first_id, gap.last_id)
            continue
        keep.extend(
            SyncGap(source=gap.source, first_id=first, last_id=last, seen_at=gap.seen_at)
            for first, last in missing_ranges(gap.first_id, gap.last_id, seen)
        )
    SyncGap.objects.filter(pk__in=[g.pk for g in rechecked]).delete()
    SyncGap.objects.bulk_create(keep)


def forget_gaps(source: str) -> None:
    """A rewind re-reads every id after its new cursor: the open gaps are moot."""
    SyncGap.objects.filter(source=source).delete()
