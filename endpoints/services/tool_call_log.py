"""The tool-call log: calls appended in batches by the pool worker, pruned by retention."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from endpoints.models import Endpoint, McpServer, Tool, ToolCall
from endpoints.upstreams.records import CallRecord
from xiaozhi_hub.masking import mask_text


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def tool_calls_record(*, records: list[CallRecord]) -> None:
    """Append calls to the log and count them on their tools (the worker prunes the log)."""
    if not records:
        return
    limit = settings.HUB_TOOL_LOG_MAX_CHARS
    keys = {(r.server_id, r.upstream_tool) for r in records if r.server_id and r.upstream_tool}
    tools = {
        (t.server_id, t.upstream_name): t.pk
        for t in Tool.objects.filter(
            server_id__in={k[0] for k in keys}, upstream_name__in={k[1] for k in keys}
        ).only("id", "server_id", "upstream_name")
    }
    servers = set(
        McpServer.objects.filter(pk__in={r.server_id for r in records}).values_list("id", flat=True)
    )
    endpoints = set(
        Endpoint.objects.filter(pk__in={r.endpoint_id for r in records}).values_list(
            "id", flat=True
        )
    )
    rows = []
    usage: dict[int, list[CallRecord]] = {}
    for record in records:
        tool_id = tools.get((record.server_id, record.upstream_tool))
        if tool_id is not None:
            usage.setdefault(tool_id, []).append(record)
        arguments = json.dumps(record.arguments, ensure_ascii=False, default=str)
        rows.append(
            ToolCall(
                at=record.started_at,
                tool=record.tool[:200],
                tool_ref_id=tool_id,
                server_id=record.server_id if record.server_id in servers else None,
                endpoint_id=record.endpoint_id if record.endpoint_id in endpoints else None,
                duration_ms=record.duration_ms,
                outcome=record.outcome,
                error=_clip(mask_text(record.error or ""), limit),
                arguments=_clip(arguments, limit),
                result=_clip(record.result_text or "", limit),
                replica=record.replica,
                failovers=record.failovers,
            )
        )
    with transaction.atomic():
        ToolCall.objects.bulk_create(rows)
        for tool_id, calls in usage.items():
            fields: dict[str, Any] = {
                "usage_count": F("usage_count") + len(calls),
                "last_used_at": max(c.started_at for c in calls),
            }
            failed = [c for c in calls if c.outcome != "ok"]
            if failed:
                newest = max(failed, key=lambda c: c.started_at)
                fields["last_error"] = _clip(mask_text(newest.error or newest.outcome), limit)
                fields["last_error_at"] = newest.started_at
            Tool.objects.filter(pk=tool_id).update(**fields)


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
