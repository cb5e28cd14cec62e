"""Per-tool numbers from the tool-call log: calls, failures, failure rate, average latency.

One aggregate over the log, joined to the tools (an annotation of the tool
queryset), so a list of tools costs one query however many rows it shows.
Calls the worker counted into a sampled row (services/tool_call_log.SampledCalls)
count with their number, and that row's duration is their average: the totals
stay exact under load. The log is pruned (HUB_TOOL_LOG_RETENTION_DAYS,
HUB_TOOL_LOG_MAX_ROWS), so these are the numbers of the calls it still holds.
"""

from __future__ import annotations

from typing import TypedDict

from django.db.models import (
    BooleanField,
    Case,
    F,
    FloatField,
    Func,
    IntegerField,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Cast, Coalesce

# A sampled row's arguments: json.dumps({"sampled": {"calls": N, ...}}).
SAMPLED_PREFIX = '{"sampled": {"calls": '


class ToolCallStats(TypedDict):
    calls: int
    failures: int
    failureRate: float | None  # 0..1; None before the first call
    avgLatencyMs: float | None


def _weight(prefix: str) -> Case:
    """How many calls one log row stands for: 1, or a sampled row's count (0 for the
    row of NULLs the join gives a tool without calls)."""
    arguments = F(f"{prefix}arguments")
    sampled_count = Cast(
        Func(arguments, Value("$.sampled.calls"), function="JSON_EXTRACT"), IntegerField()
    )
    # Nested CASEs evaluate JSON_EXTRACT only on valid JSON of a sampled row's shape:
    # an ordinary row's arguments may be truncated JSON, which SQLite's JSON_EXTRACT
    # refuses with an error.
    valid = Func(arguments, function="JSON_VALID", output_field=BooleanField())
    return Case(
        When(**{f"{prefix}id__isnull": True}, then=Value(0)),  # a tool without calls
        When(
            **{f"{prefix}arguments__startswith": SAMPLED_PREFIX},
            then=Case(
                When(valid, then=Coalesce(sampled_count, Value(1))),
                default=Value(1),
                output_field=IntegerField(),
            ),
        ),
        default=Value(1),
        output_field=IntegerField(),
    )


def with_call_stats(tools: QuerySet) -> QuerySet:
    """Tools annotated with `stat_calls`, `stat_failures` and `stat_total_ms` (see
    `tool_call_stats`); the log rows join through ToolCall.tool_ref."""
    weight = _weight("calls__")
    failed = ~Q(calls__outcome="ok")
    return tools.annotate(
        stat_calls=Coalesce(Sum(weight), Value(0)),
        stat_failures=Coalesce(
            Sum(Case(When(failed, then=weight), default=Value(0), output_field=IntegerField())),
            Value(0),
        ),
        stat_total_ms=Coalesce(
            Sum(F("calls__duration_ms") * weight, output_field=FloatField()), Value(0.0)
        ),
    )


def tool_call_stats(tool) -> ToolCallStats:
    """The numbers of a tool from `with_call_stats` (zeros for one not annotated)."""
    calls = int(getattr(tool, "stat_calls", 0) or 0)
    failures = int(getattr(tool, "stat_failures", 0) or 0)
    total_ms = float(getattr(tool, "stat_total_ms", 0.0) or 0.0)
    return {
        "calls": calls,
        "failures": failures,
        "failureRate": round(failures / calls, 4) if calls else None,
        "avgLatencyMs": round(total_ms / calls, 1) if calls else None,
    }
