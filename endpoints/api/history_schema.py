"""The OpenAPI description of api/history.py (docs/endpoint-pool.md, "Health history"):
the `range` parameter and the shapes selectors/history.py answers (only described here)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import serializers

from xiaozhi_hub.history import BUCKET_STATES, RANGES
from xiaozhi_hub.history_schema import RANGE


class _Figures(serializers.Serializer):
    state = serializers.ChoiceField(choices=BUCKET_STATES)
    upSeconds = serializers.FloatField()
    downSeconds = serializers.FloatField()
    uptimePercent = serializers.FloatField(allow_null=True)


class EndpointFigures(_Figures):
    pingsOk = serializers.IntegerField()
    pingsFailed = serializers.IntegerField()
    rttAvgMs = serializers.FloatField(allow_null=True)
    rttP95Ms = serializers.FloatField(allow_null=True)
    rttMaxMs = serializers.FloatField(allow_null=True)
    disconnections = serializers.IntegerField()


class EndpointBucket(EndpointFigures):
    start = serializers.DateTimeField()


class ServerFigures(_Figures):
    outages = serializers.IntegerField()


class ServerBucket(ServerFigures):
    start = serializers.DateTimeField()


# "24h", "from": not identifiers, so these shapes are made with type().
Uptime = type(
    "Uptime",
    (serializers.Serializer,),
    {name: serializers.FloatField(allow_null=True) for name in RANGES},
)


class Owner(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


def _history(name: str, owner: str, figures: type, bucket: type) -> type:
    fields = {
        owner: Owner(),
        "range": serializers.ChoiceField(choices=list(RANGES)),
        "resolution": serializers.ChoiceField(choices=["minute", "hour"]),
        "bucketSeconds": serializers.IntegerField(),
        "from": serializers.DateTimeField(),
        "to": serializers.DateTimeField(),
        "summary": figures(),
        "uptime": Uptime(),
        "buckets": bucket(many=True),
    }
    return type(name, (serializers.Serializer,), fields)


EndpointHistory = _history("EndpointHistory", "endpoint", EndpointFigures, EndpointBucket)
McpServerHistory = _history("McpServerHistory", "server", ServerFigures, ServerBucket)

endpoint_history = extend_schema_view(
    get=extend_schema(
        tags=["endpoints"],
        summary="An endpoint's health history: uptime, pings and RTT per bucket",
        parameters=[RANGE],
        responses=EndpointHistory,
    )
)
mcp_server_history = extend_schema_view(
    get=extend_schema(
        tags=["mcp-servers"],
        summary="An MCP server's readiness history per bucket",
        parameters=[RANGE],
        responses=McpServerHistory,
    )
)
