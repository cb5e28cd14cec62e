"""The OpenAPI `range` parameter every history route shares (xiaozhi_hub/history.py)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter

from .history import DEFAULT_RANGE, RANGES

RANGE = OpenApiParameter(
    "range",
    str,
    enum=list(RANGES),
    default=DEFAULT_RANGE,
    description="24h: minute buckets; 7d, 30d: hour buckets. Another value: 400.",
)
