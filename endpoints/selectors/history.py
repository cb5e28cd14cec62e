"""Reads of the health history: buckets, uptime and RTT figures for REST and the console.

Rows of the same bucket written by different workers (an endpoint that moved
between them) are added up. Uptime % = up seconds / (up + down seconds): the
time the endpoint was enabled and held by a worker; time with no data counts
neither way. The card figures (24 h / 7 d / 30 d) come from the hour buckets:
the last 24, 168 and 720 of them, the current one included.

Keys are camelCase: the endpoint family (docs/console.md, "Casing").
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db.models import Q, Sum
from django.utils import timezone

from endpoints.models import Endpoint, EndpointHealthBucket, McpServer, McpServerHealthBucket
from endpoints.models.history import RTT_BIN_EDGES_MS
from xiaozhi_hub.history import (
    HOUR,
    MINUTE,
    RANGES,
    HistoryRange,
    bucket_start,
    bucket_state,
    iso,
    percent,
)

ENDPOINT_SUMS = (
    "up_seconds",
    "down_seconds",
    "pings_ok",
    "pings_failed",
    "rtt_sum_ms",
    "rtt_count",
    "disconnections",
)
SERVER_SUMS = ("up_seconds", "down_seconds", "outages")
HEARTBEAT_BUCKETS = 60  # minute buckets on a console card's heartbeat bar


def rtt_percentile(histogram: list[int], rtt_max: float | None, fraction: float = 0.95):
    """The nearest-rank percentile from a bucket's RTT histogram: the upper edge of the bin
    that holds it, capped at the largest RTT (the open last bin: the largest RTT)."""
    total = sum(histogram or ())
    if not total or rtt_max is None:
        return None
    rank = max(1, math.ceil(fraction * total))
    seen = 0
    for index, count in enumerate(histogram):
        seen += count
        if seen >= rank:
            edge = RTT_BIN_EDGES_MS[index] if index < len(RTT_BIN_EDGES_MS) else rtt_max
            return min(float(edge), rtt_max)
    return rtt_max


def _add(total: dict | None, row: dict, sums: tuple[str, ...]) -> dict:
    """`row` added to `total` (a bucket's rows of several workers, or many buckets)."""
    if total is None:
        total = {name: row[name] for name in sums}
        if "rtt_histogram" in row:
            total["rtt_max_ms"] = row["rtt_max_ms"]
            total["rtt_histogram"] = list(row["rtt_histogram"] or [])
        return total
    for name in sums:
        total[name] += row[name]
    if "rtt_histogram" in row:
        if row["rtt_max_ms"] is not None:
            total["rtt_max_ms"] = max(total["rtt_max_ms"] or 0.0, row["rtt_max_ms"])
        mine, theirs = total["rtt_histogram"], row["rtt_histogram"] or []
        if len(mine) < len(theirs):
            mine.extend([0] * (len(theirs) - len(mine)))
        for index, count in enumerate(theirs):
            mine[index] += count
    return total


def endpoint_figures(row: dict) -> dict:
    """Uptime, pings and RTT of one bucket (or of a sum of buckets), as the API shows them."""
    count = row["rtt_count"]
    return {
        "state": bucket_state(row["up_seconds"], row["down_seconds"] + row["pings_failed"]),
        "upSeconds": round(row["up_seconds"], 3),
        "downSeconds": round(row["down_seconds"], 3),
        "uptimePercent": percent(row["up_seconds"], row["up_seconds"] + row["down_seconds"]),
        "pingsOk": row["pings_ok"],
        "pingsFailed": row["pings_failed"],
        "rttAvgMs": round(row["rtt_sum_ms"] / count, 2) if count else None,
        "rttP95Ms": rtt_percentile(row["rtt_histogram"], row["rtt_max_ms"]),
        "rttMaxMs": row["rtt_max_ms"],
        "disconnections": row["disconnections"],
    }


def server_figures(row: dict) -> dict:
    return {
        "state": bucket_state(row["up_seconds"], row["down_seconds"]),
        "upSeconds": round(row["up_seconds"], 3),
        "downSeconds": round(row["down_seconds"], 3),
        "uptimePercent": percent(row["up_seconds"], row["up_seconds"] + row["down_seconds"]),
        "outages": row["outages"],
    }


def _payload(row: dict, figures) -> dict:
    return {"start": iso(row["start"]), **figures(row)}


def endpoint_bucket_payload(row: dict) -> dict:
    """One bucket: its start and figures (REST, the heartbeat bar, the `health_bucket` event)."""
    return _payload(row, endpoint_figures)


def server_bucket_payload(row: dict) -> dict:
    return _payload(row, server_figures)


# --- queries ----------------------------------------------------------------------------

_ENDPOINT_COLUMNS = ("endpoint_id", "start", *ENDPOINT_SUMS, "rtt_max_ms", "rtt_histogram")
_SERVER_COLUMNS = ("server_id", "start", *SERVER_SUMS)


def _buckets(rows: Iterable[dict], key: str, sums: tuple[str, ...]) -> dict[int, list[dict]]:
    """Rows (ordered by start) as buckets per owner, the rows of several workers added up."""
    merged: dict[tuple[int, datetime], dict] = {}
    for row in rows:
        slot = (row[key], row["start"])
        merged[slot] = _add(merged.get(slot), row, sums)
        merged[slot]["start"] = row["start"]
    owners: dict[int, list[dict]] = {}
    for (owner, _start), bucket in sorted(merged.items(), key=lambda item: item[0][1]):
        owners.setdefault(owner, []).append(bucket)
    return owners


def uptime_windows(*, model, key: str, ids: list[int] | None, now: datetime) -> dict[int, dict]:
    """{owner id: {"24h": %, "7d": %, "30d": %}} from the hour buckets (None: no data)."""
    current = bucket_start(now, HOUR)
    starts = {
        name: current - timedelta(seconds=window.buckets * window.bucket_seconds - 3600)
        for name, window in RANGES.items()
    }
    queryset = model.objects.filter(resolution=HOUR, start__gte=min(starts.values()))
    if ids is not None:
        queryset = queryset.filter(**{f"{key}__in": ids})
    sums = {}
    for name, first in starts.items():
        sums[f"up_{name}"] = Sum("up_seconds", filter=Q(start__gte=first))
        sums[f"down_{name}"] = Sum("down_seconds", filter=Q(start__gte=first))
    result = {}
    for row in queryset.values(key).annotate(**sums).order_by():
        result[row[key]] = {
            name: percent(
                row[f"up_{name}"] or 0, (row[f"up_{name}"] or 0) + (row[f"down_{name}"] or 0)
            )
            for name in starts
        }
    return result


def _history(*, model, key: str, owner, columns, sums, figures, window, now) -> dict:
    now = now or timezone.now()
    rows = (
        model.objects.filter(
            **{key: owner.pk}, resolution=window.resolution, start__gte=window.first_start(now)
        )
        .order_by("start")
        .values(*columns)
    )
    buckets = _buckets(rows, key, sums).get(owner.pk, [])
    total = None
    for bucket in buckets:
        total = _add(total, bucket, sums)
    empty = {name: 0 for name in sums}
    if "rtt_count" in sums:
        empty.update(rtt_max_ms=None, rtt_histogram=[])
    uptime = uptime_windows(model=model, key=key, ids=[owner.pk], now=now).get(owner.pk)
    return {
        "range": window.name,
        "resolution": window.resolution,
        "bucketSeconds": window.bucket_seconds,
        "from": iso(window.first_start(now)),
        "to": iso(now),
        "summary": figures(total or empty),
        "uptime": uptime or dict.fromkeys(RANGES),
        "buckets": [_payload(bucket, figures) for bucket in buckets],
    }


def endpoint_history(*, endpoint: Endpoint, window: HistoryRange, now=None) -> dict:
    """GET /api/endpoints/<id>/history: the range's buckets (only those with data, oldest
    first), their summary, and the 24 h / 7 d / 30 d uptime."""
    found = _history(
        model=EndpointHealthBucket,
        key="endpoint_id",
        owner=endpoint,
        columns=_ENDPOINT_COLUMNS,
        sums=ENDPOINT_SUMS,
        figures=endpoint_figures,
        window=window,
        now=now,
    )
    return {"endpoint": {"id": endpoint.pk, "name": endpoint.name}, **found}


def mcp_server_history(*, server: McpServer, window: HistoryRange, now=None) -> dict:
    """GET /api/mcp-servers/<id>/history: as endpoint_history, for the server's readiness."""
    found = _history(
        model=McpServerHealthBucket,
        key="server_id",
        owner=server,
        columns=_SERVER_COLUMNS,
        sums=SERVER_SUMS,
        figures=server_figures,
        window=window,
        now=now,
    )
    return {"server": {"id": server.pk, "name": server.name}, **found}


def health_overview(*, now=None, buckets: int = HEARTBEAT_BUCKETS) -> dict:
    """For the console's cards: per endpoint and server, the last `buckets` minute buckets
    (those with data) and the 24 h / 7 d / 30 d uptime."""
    now = now or timezone.now()
    since = bucket_start(now, MINUTE) - timedelta(minutes=buckets - 1)
    kinds = (
        ("endpoints", EndpointHealthBucket, "endpoint_id", _ENDPOINT_COLUMNS, ENDPOINT_SUMS),
        ("servers", McpServerHealthBucket, "server_id", _SERVER_COLUMNS, SERVER_SUMS),
    )
    result = {}
    for name, model, key, columns, sums in kinds:
        figures = endpoint_figures if model is EndpointHealthBucket else server_figures
        rows = (
            model.objects.filter(resolution=MINUTE, start__gte=since)
            .order_by("start")
            .values(*columns)
        )
        recent = _buckets(rows, key, sums)
        uptime = uptime_windows(model=model, key=key, ids=None, now=now)
        result[name] = [
            {
                "id": owner,
                "uptime": uptime.get(owner) or dict.fromkeys(RANGES),
                "buckets": [
                    {"start": iso(b["start"]), **figures(b)} for b in recent.get(owner, [])
                ],
            }
            for owner in sorted(set(recent) | set(uptime))
        ]
    result["bucketSeconds"] = 60
    result["heartbeatBuckets"] = buckets
    return result
