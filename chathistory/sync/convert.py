"""Source rows turned into message fields, and the rows that could not be copied.

Retention applies here, before anything is stored (chathistory/retention/policy.py): a
row of a device whose history was deleted on demand (created up to the deletion), or one
older than its policy keeps, is left out; a policy's masks apply to the text; audio older
than the policy keeps loses its audio id. Left-out rows are neither copied nor rejected.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime

from django.utils import timezone

from ..devices import optional_device_key
from ..models import SkippedRow
from ..parsing import BadRow, ParsedContent, as_text, match_key, parse_content
from ..retention.policy import Rule, SourceRules, cutoff, source_rules
from ..sources.esp32 import Esp32Source, SourceRow

logger = logging.getLogger(__name__)

# A source row that cannot be copied, and why.
Rejected = tuple[SourceRow, str]


@dataclass(slots=True)  # one per source row: no per-instance dict for the collector to walk
class Converted:
    row: SourceRow
    parsed: ParsedContent
    created_at: datetime  # aware, UTC
    key: str  # the match key a report of the same message has


def convert(source: Esp32Source, rows: list[SourceRow]) -> tuple[list[Converted], list[Rejected]]:
    good, bad = [], []
    keys: dict[str | None, str | None] = {}  # a batch names few devices, each many times
    rules = source_rules(source.name) if rows else None
    retained = None if rules is None or rules.empty else _Retention(rules)
    for original in rows:
        try:
            # From here on a row names its device by the hub's key (chathistory/devices.py).
            mac = original.mac
            if mac not in keys:
                keys[mac] = optional_device_key(mac)
            row = original if keys[mac] == mac else original._replace(mac=keys[mac])
            raw = as_text(row.content)
            parsed = parse_content(row.chat_type, raw)
            created = source.aware(row.created_at)
            if created is None:
                raise BadRow("created_at and updated_at are both NULL")
            key = match_key(
                mac=row.mac, session_id=row.session_id, chat_type=int(row.chat_type), raw=raw
            )
            item = Converted(row, parsed, created, key)
            if retained is not None:
                item = retained.apply(item)
                if item is None:
                    continue
            good.append(item)
        except (BadRow, TypeError, ValueError) as exc:
            bad.append((original, str(exc)))
    return good, bad


class _Retention:
    """The retention rules of one batch: what is left out, what is masked (per row: plain
    dict lookups; each policy's cut-off times are worked out once per batch)."""

    def __init__(self, rules: SourceRules):
        self.rules, self.now = rules, timezone.now()
        self.cutoffs: dict[int, tuple[datetime | None, datetime | None]] = {}

    def _cutoffs(self, rule: Rule) -> tuple[datetime | None, datetime | None]:
        found = self.cutoffs.get(rule.policy_id)
        if found is None:
            found = self.cutoffs[rule.policy_id] = (
                None
                if rule.keep_messages_days is None
                else cutoff(rule.keep_messages_days, self.now),
                None if rule.keep_audio_days is None else cutoff(rule.keep_audio_days, self.now),
            )
        return found

    def apply(self, item: Converted) -> Converted | None:
        row, rules = item.row, self.rules
        mac = row.mac
        if mac is not None:
            before = rules.deleted.get(mac)
            if before is not None and item.created_at <= before:
                return None
            rule = rules.devices.get(mac)
        else:
            rule = None
        if rule is None:
            rule = rules.agents.get(row.agent_id) if row.agent_id is not None else None
            if rule is None:
                rule = rules.source
                if rule is None:
                    return item
        oldest, audio_oldest = self._cutoffs(rule)
        if oldest is not None and item.created_at < oldest:
            return None
        if audio_oldest is not None and row.audio_id and item.created_at < audio_oldest:
            item.row = row._replace(audio_id=None)
        redactor = rule.redactor
        if redactor is not None:
            content = item.parsed.content
            if content:
                masked = redactor(content)
                if masked != content:
                    item.parsed = replace(item.parsed, content=masked)
        return item


def record_rejected(source: str, run_id: int, rejected: list[Rejected]) -> None:
    """Kept as SkippedRow (once per source id) so an operator sees what was left out."""
    for row, reason in rejected:
        logger.warning("chat sync skipped source row %s: %s", row.id, reason)
    SkippedRow.objects.bulk_create(
        [_skipped_row(source, run_id, row, reason) for row, reason in rejected],
        ignore_conflicts=True,
    )


def _skipped_row(source: str, run_id: int, row: SourceRow, reason: str) -> SkippedRow:
    return SkippedRow(
        source=source,
        source_id=row.id,
        run_id=run_id,
        reason=reason[:2000],
        raw=repr(tuple(row))[:2000],
    )
