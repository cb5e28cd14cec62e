"""The OpenAPI description of GET /api/v2/sync/history (docs/chat-history.md, "History"):
the shapes history_selectors.py answers (only described here)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers

from xiaozhi_hub.history import BUCKET_STATES, RANGES
from xiaozhi_hub.history_schema import RANGE


class SyncFigures(serializers.Serializer):
    state = serializers.ChoiceField(choices=BUCKET_STATES)
    runs_ok = serializers.IntegerField()
    runs_failed = serializers.IntegerField()
    success_percent = serializers.FloatField(allow_null=True)
    rows_read = serializers.IntegerField()
    rows_written = serializers.IntegerField()
    lag_max_seconds = serializers.FloatField(allow_null=True)


class SyncBucket(SyncFigures):
    start = serializers.DateTimeField()


class IngestFigures(serializers.Serializer):
    state = serializers.ChoiceField(choices=BUCKET_STATES)
    accepted = serializers.IntegerField()
    rejected = serializers.IntegerField()
    rejected_percent = serializers.FloatField(allow_null=True)


class IngestBucket(IngestFigures):
    start = serializers.DateTimeField()


class IngestHistory(serializers.Serializer):
    summary = IngestFigures()
    buckets = IngestBucket(many=True)


# "from" is a Python keyword: the shape is made with type().
SyncHistory = type(
    "SyncHistory",
    (serializers.Serializer,),
    {
        "source": serializers.CharField(),
        "range": serializers.ChoiceField(choices=list(RANGES)),
        "resolution": serializers.ChoiceField(choices=["minute", "hour"]),
        "bucket_seconds": serializers.IntegerField(),
        "from": serializers.DateTimeField(),
        "to": serializers.DateTimeField(),
        "lag_seconds": serializers.FloatField(allow_null=True),
        "summary": SyncFigures(),
        "buckets": SyncBucket(many=True),
        "ingest": IngestHistory(),
    },
)

sync_history = extend_schema_view(
    get=extend_schema(
        tags=["sync"],
        summary="The sync's runs, rows and lag, and report ingest, per bucket",
        parameters=[RANGE],
        responses=SyncHistory,
    )
)
