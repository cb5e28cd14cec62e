"""The tool-call log: calls appended in batches by the pool worker, pruned by retention.

Under load the worker logs a sample (worker/upstream_reports.py): the calls it
does not log one by one are counted into one row per endpoint, tool, outcome
and minute, a `SampledCalls`, so the log cannot dominate the database's writes
while the totals (that row's count, the tools' usage counters) stay exact.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from endpoints.models import Endpoint, McpServer, Tool, ToolCall
from endpoints.upstreams.records import CallOutcome, CallRecord
from xiaozhi_hub.masking import mask_text

UNKNOWN_TOOLS = "(unknown tools)"  # the sampled row of calls to names no server has


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class SampledCalls:
    """Calls of one endpoint, tool and outcome counted into one log row (a minute at most).

    The row says so: `arguments` is {"sampled": {"calls", "first", "last"}} and
    `result` a sentence, which the admin and GET /api/tools/calls show.
    """

    tool: str  # the exposed name, or UNKNOWN_TOOLS
    server_id: int | None
    upstream_tool: str | None
    endpoint_id: int | None
    outcome: CallOutcome
    first_at: datetime
    last_at: datetime
    calls: int = 0
    total_ms: float = 0.0
    last_error: str = ""  # masked by the runtime
    row_id: int | None = None  # its log row, once stored
    unstored: int = 0  # calls counted since the row was last stored

    @classmethod
    def starting_with(cls, record: CallRecord) -> SampledCalls:
        known = record.server_id is not None
        return cls(
            tool=record.tool if known else UNKNOWN_TOOLS,
            server_id=record.server_id,
            upstream_tool=record.upstream_tool if known else None,
            endpoint_id=record.endpoint_id,
            outcome=record.outcome,
            first_at=record.started_at,
            last_at=record.started_at,
        )

    def add(self, record: CallRecord) -> None:
        self.calls += 1
        self.unstored += 1
        self.total_ms += record.duration_ms
        self.first_at = min(self.first_at, record.started_at)
        self.last_at = max(self.last_at, record.started_at)
        if record.error:
            self.last_error = record.error

    def row_fields(self, limit: int) -> dict[str, Any]:
        window = {"calls": self.calls, "first": _iso(self.first_at), "last": _iso(self.last_at)}
        return {
            "at": self.first_at,
            "tool": self.tool[:200],
            "duration_ms": self.total_ms / self.calls,
            "outcome": self.outcome,
            "error": _clip(mask_text(self.last_error), limit),
            "arguments": json.dumps({"sampled": window}),
            "result": (
                f"{self.calls} calls from {self.first_at:%H:%M:%S} to {self.last_at:%H:%M:%S} "
                "UTC counted here, not logged one by one (over HUB_TOOL_LOG_RATE="
                f"{settings.HUB_TOOL_LOG_RATE} a minute for this endpoint, tool and outcome)"
            ),
        }


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class _Usage:
    """What one flush adds to a tool's counters."""

    def __init__(self) -> None:
        self.calls = 0
        self.last_used: datetime | None = None
        self.failure: tuple[datetime, str] | None = None  # the newest

    def add(self, calls: int, at: datetime, outcome: str, error: str) -> None:
        self.calls += calls
        self.last_used = at if self.last_used is None else max(self.last_used, at)
        if outcome != "ok" and (self.failure is None or at >= self.failure[0]):
            self.failure = (at, error or outcome)


def tool_calls_record(*, records: list[CallRecord], sampled: list[SampledCalls] = ()) -> None:
    """Append calls to the log (and store sampled rows) and count them on their tools.

    A sampled row is created once and then updated in place; afterwards its
    `row_id` is set and `unstored` is 0. The worker prunes the log.
    """
    sampled = [s for s in sampled if s.unstored]
    if not records and not sampled:
        return
    limit = settings.HUB_TOOL_LOG_MAX_CHARS
    everything = [*records, *sampled]
    keys = {(c.server_id, c.upstream_tool) for c in everything if c.server_id and c.upstream_tool}
    tools = {
        (t.server_id, t.upstream_name): t.pk
        for t in Tool.objects.filter(
            server_id__in={k[0] for k in keys}, upstream_name__in={k[1] for k in keys}
        ).only("id", "server_id", "upstream_name")
    }
    servers = set(
        McpServer.objects.filter(pk__in={c.server_id for c in everything}).values_list(
            "id", flat=True
        )
    )
    endpoints = set(
        Endpoint.objects.filter(pk__in={c.endpoint_id for c in everything}).values_list(
            "id", flat=True
        )
    )

    def links(call: CallRecord | SampledCalls) -> dict[str, int | None]:
        return {
            "tool_ref_id": tools.get((call.server_id, call.upstream_tool)),
            "server_id": call.server_id if call.server_id in servers else None,
            "endpoint_id": call.endpoint_id if call.endpoint_id in endpoints else None,
        }

    rows = []
    usage: dict[int, _Usage] = {}
    for record in records:
        row_links = links(record)
        if row_links["tool_ref_id"] is not None:
            usage.setdefault(row_links["tool_ref_id"], _Usage()).add(
                1, record.started_at, record.outcome, record.error
            )
        arguments = json.dumps(record.arguments, ensure_ascii=False, default=str)
        rows.append(
            ToolCall(
                at=record.started_at,
                tool=record.tool[:200],
                duration_ms=record.duration_ms,
                outcome=record.outcome,
                error=_clip(mask_text(record.error or ""), limit),
                arguments=_clip(arguments, limit),
                result=_clip(record.result_text or "", limit),
                replica=record.replica,
                failovers=record.failovers,
                **row_links,
            )
        )
    with transaction.atomic():
        ToolCall.objects.bulk_create(rows)
        row_ids = []
        for sample in sampled:
            row_links = links(sample)
            if row_links["tool_ref_id"] is not None:
                usage.setdefault(row_links["tool_ref_id"], _Usage()).add(
                    sample.unstored, sample.last_at, sample.outcome, sample.last_error
                )
            fields = {**sample.row_fields(limit), **row_links}
            if sample.row_id is None or not ToolCall.objects.filter(pk=sample.row_id).update(
                **fields
            ):
                row_ids.append(ToolCall.objects.create(**fields).pk)  # new, or pruned meanwhile
            else:
                row_ids.append(sample.row_id)
        for tool_id, used in usage.items():
            update: dict[str, Any] = {
                "usage_count": F("usage_count") + used.calls,
                "last_used_at": used.last_used,
            }
            if used.failure is not None:
                update["last_error"] = _clip(mask_text(used.failure[1]), limit)
                update["last_error_at"] = used.failure[0]
            Tool.objects.filter(pk=tool_id).update(**update)
    for sample, row_id in zip(sampled, row_ids, strict=True):
        sample.row_id, sample.unstored = row_id, 0


def tool_calls_prune(*, now: datetime | None = None) -> int:
    """Drop log rows older than the retention and beyond the row cap; returns how many."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.HUB_TOOL_LOG_RETENTION_DAYS)
    deleted, _ = ToolCall.objects.filter(at__lt=cutoff).delete()
    cap = settings.HUB_TOOL_LOG_MAX_ROWS
    boundary = list(ToolCall.objects.order_by("-id").values_list("id", flat=True)[cap : cap + 1])
    if boundary:
        more, _ = ToolCall.objects.filter(id__lte=boundary[0]).delete()
        deleted += more
    return deleted
