"""The OpenAPI description of api/endpoint.py (docs/api.md): one `extend_schema_view`
per view, and the shapes of what the selectors and pool requests answer.

The views build their answers as dicts (selectors/endpoint.py); these serializers
only describe them. tests/api/test_schema_responses.py checks live answers against
the schema, so a selector that changes its shape fails there until this follows.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers

from endpoints.options import CONNECTION_OPTIONS, POOL_OPTIONS, OptionSpec
from endpoints.pool.config import PEER_PROFILES, RESOLVED_PEER_PROFILES
from endpoints.pool.status import ERROR_CLASSES, STATES
from endpoints.serializers.endpoint import EndpointInputSerializer, ProbeSerializer

TAGS = ["endpoints"]


def _option_field(spec: OptionSpec, *, required: bool, allow_null: bool) -> serializers.Field:
    common = {"required": required, "allow_null": allow_null, "help_text": spec.help}
    if spec.kind == "duration":
        return serializers.FloatField(**common, min_value=spec.minimum * 1000)
    if spec.kind == "count":
        return serializers.IntegerField(**common, min_value=int(spec.minimum))
    if spec.kind == "choice":
        return serializers.ChoiceField(choices=spec.choices, **common)
    return serializers.BooleanField(**common)


def options_shape(name: str, specs, *, required: bool, allow_null: bool) -> type:
    """The `connectionOptions` object of `specs` (durations in ms), as a serializer class:
    the option table (endpoints/options.py) stays the one description of the options."""
    fields = {
        spec.key: _option_field(spec, required=required, allow_null=allow_null) for spec in specs
    }
    return type(name, (serializers.Serializer,), fields)


# GET answers every pool option; PUT/PATCH change the keys they carry.
PoolOptions = options_shape("PoolOptions", POOL_OPTIONS, required=True, allow_null=False)
PoolOptionsChange = options_shape(
    "PoolOptionsChange", POOL_OPTIONS, required=False, allow_null=False
)
# An endpoint lists only the options it overrides; writing null clears an override.
EndpointOptions = options_shape(
    "EndpointOptions", CONNECTION_OPTIONS, required=False, allow_null=False
)
EndpointOptionsChange = options_shape(
    "EndpointOptionsChange", CONNECTION_OPTIONS, required=False, allow_null=True
)


class EndpointWrite(EndpointInputSerializer):
    """POST/PUT/PATCH body: `url` may be the masked URL read back (keeps the stored one)."""

    options = EndpointOptionsChange(required=False)


class ReconnectEntry(serializers.Serializer):
    at = serializers.DateTimeField(allow_null=True)
    error_class = serializers.ChoiceField(choices=ERROR_CLASSES, allow_null=True)
    error = serializers.CharField(allow_blank=True)
    delay = serializers.FloatField(allow_null=True, help_text="s; null: no retry (failed)")


class EndpointStatus(serializers.Serializer):
    """Live status (the `endpoint_health` console payload too); `url` masked."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    url = serializers.CharField(help_text="masked: the token is never shown")
    enabled = serializers.BooleanField()
    state = serializers.ChoiceField(choices=STATES)
    connected = serializers.BooleanField()
    initialized = serializers.BooleanField()
    lastConnected = serializers.DateTimeField(allow_null=True)
    lastError = serializers.CharField(allow_blank=True)
    errorClass = serializers.ChoiceField(choices=ERROR_CLASSES, allow_null=True)
    reconnectAttempts = serializers.IntegerField()
    nextReconnectAt = serializers.DateTimeField(allow_null=True)
    healthScore = serializers.FloatField()
    rttMs = serializers.FloatField(allow_null=True)
    rttP95Ms = serializers.FloatField(allow_null=True)
    rttHistory = serializers.ListField(child=serializers.FloatField())
    consecutiveFailures = serializers.IntegerField()
    totalRequests = serializers.IntegerField()
    successfulRequests = serializers.IntegerField()
    reconnectHistory = ReconnectEntry(many=True)
    tokenExpiresAt = serializers.DateTimeField(allow_null=True)
    tokenExpired = serializers.BooleanField()
    toolCalls = serializers.IntegerField()
    peerProfile = serializers.ChoiceField(
        choices=RESOLVED_PEER_PROFILES, help_text="the peer profile in effect (auto resolved)"
    )
    waitingForDevice = serializers.BooleanField(
        help_text="a relay that is connected but no device has initialized through it yet "
        "(normal: a relay forwards initialize only when a device talks)"
    )
    worker = serializers.CharField(allow_null=True, help_text="the pool worker holding it")


class Endpoint(serializers.Serializer):
    """An endpoint's configuration (URL masked) and live status."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    url = serializers.CharField(help_text="masked: the token is never shown")
    enabled = serializers.BooleanField()
    healthCheckEnabled = serializers.BooleanField()
    reconnectOnToolsChange = serializers.BooleanField()
    peerProfile = serializers.ChoiceField(choices=PEER_PROFILES, help_text="as configured")
    effectivePeerProfile = serializers.ChoiceField(
        choices=RESOLVED_PEER_PROFILES,
        help_text="the profile in effect (auto resolved from the URL)",
    )
    options = EndpointOptions(help_text="the connection options this endpoint overrides")
    tokenExpiresAt = serializers.DateTimeField(allow_null=True)
    tokenExpiry = serializers.CharField(help_text='"no expiry", "expired", "expires in N days"')
    createdAt = serializers.DateTimeField()
    updatedAt = serializers.DateTimeField()
    status = EndpointStatus(allow_null=True)


class EndpointEvent(serializers.Serializer):
    at = serializers.DateTimeField()
    state = serializers.CharField()
    previousState = serializers.CharField(allow_null=True)
    errorClass = serializers.CharField(allow_null=True)
    error = serializers.CharField(allow_blank=True)
    healthScore = serializers.FloatField(allow_null=True)
    rttMs = serializers.FloatField(allow_null=True)
    worker = serializers.CharField(allow_blank=True)


class EndpointDetail(Endpoint):
    events = EndpointEvent(many=True, help_text="the newest 20 status changes, newest first")


class HealthCheckStats(serializers.Serializer):
    enabledConnections = serializers.IntegerField()
    degradedConnections = serializers.IntegerField()
    failedConnections = serializers.IntegerField()
    averageHealthScore = serializers.FloatField(allow_null=True)
    averageRttMs = serializers.FloatField(allow_null=True)
    totalRequests = serializers.IntegerField()
    successfulRequests = serializers.IntegerField()


class PoolManager(serializers.Serializer):
    totalConnections = serializers.IntegerField()
    connectedConnections = serializers.IntegerField()
    healthyConnections = serializers.IntegerField()
    healthCheckStats = HealthCheckStats()
    loadBalanceStrategy = serializers.CharField()
    workers = serializers.ListField(child=serializers.CharField())


class PoolStatus(serializers.Serializer):
    """The original multi-endpoint client's status shape."""

    type = serializers.ChoiceField(choices=["multi-endpoint"])
    manager = PoolManager()
    connections = EndpointStatus(many=True)


class CheckResult(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(allow_blank=True)
    ok = serializers.BooleanField()
    rttMs = serializers.FloatField(allow_null=True)
    worker = serializers.CharField()
    reason = serializers.ChoiceField(
        choices=["timeout", "not_connected", "peer_error"],
        allow_null=True,
        help_text="why the ping failed (null when it did not)",
    )
    error = serializers.CharField(allow_null=True, help_text="the reason in words")


class NotChecked(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    reason = serializers.ChoiceField(
        choices=["disabled", "not_held", "worker_silent", "no_pool"],
        help_text="why no worker pinged it",
    )
    error = serializers.CharField(help_text="the reason in words")


class CheckReport(serializers.Serializer):
    results = CheckResult(many=True)
    notConnected = serializers.ListField(child=serializers.IntegerField())
    notChecked = NotChecked(many=True, help_text="the endpoints of notConnected, with why")
    checkedAt = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField(required=False, help_text="only when no running pool answered")


class ProbedEndpoint(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(allow_null=True)


class ProbeAttempt(serializers.Serializer):
    endpointId = serializers.IntegerField()
    error = serializers.CharField(
        help_text="why it did not answer; a connected self-hosted relay is listed as skipped "
        "(it drops requests the hub originates)"
    )


class ProbeResult(serializers.Serializer):
    """Which endpoint answered and how; or (503) `error`, `method` and the `attempts`."""

    method = serializers.CharField()
    endpoint = ProbedEndpoint(required=False)
    result = serializers.JSONField(required=False, allow_null=True)
    rpcError = serializers.JSONField(required=False, allow_null=True)
    rttMs = serializers.FloatField(required=False, allow_null=True)
    attempts = ProbeAttempt(many=True, required=False, help_text="the endpoints tried or skipped")
    worker = serializers.CharField(required=False, allow_null=True)
    error = serializers.CharField(required=False)


class ReconnectResult(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    done = serializers.BooleanField(help_text="true once the worker holding it redialled")
    worker = serializers.CharField(allow_null=True, help_text="the worker that redialled")
    reason = serializers.CharField(
        allow_null=True,
        help_text="why not done: no_pool, disabled, not_held, worker_silent or worker_error",
    )
    error = serializers.CharField(allow_null=True, help_text="why not done, in words")


pool_status = extend_schema_view(
    get=extend_schema(
        tags=TAGS, summary="Every endpoint's live status", responses={200: PoolStatus}
    )
)
endpoint_list = extend_schema_view(
    get=extend_schema(
        tags=TAGS, summary="Endpoints (paginated)", responses={200: Endpoint(many=True)}
    ),
    post=extend_schema(
        tags=TAGS, summary="Add an endpoint", request=EndpointWrite, responses={201: EndpointDetail}
    ),
)
endpoint_detail = extend_schema_view(
    get=extend_schema(tags=TAGS, summary="One endpoint", responses={200: EndpointDetail}),
    put=extend_schema(
        tags=TAGS,
        summary="Replace an endpoint (omitted fields go back to their defaults)",
        request=EndpointWrite,
        responses={200: EndpointDetail},
    ),
    patch=extend_schema(
        tags=TAGS,
        summary="Change an endpoint",
        request=EndpointWrite(partial=True),
        responses={200: EndpointDetail},
    ),
    delete=extend_schema(tags=TAGS, summary="Delete an endpoint", responses={204: None}),
)
endpoint_reconnect = extend_schema_view(
    post=extend_schema(
        tags=TAGS,
        summary="Drop and redial an endpoint",
        description=(
            "Waits for the worker holding the endpoint to redial it (up to "
            "HUB_POOL_CONTROL_TIMEOUT): 200 when it did, 503 with the reason when no "
            "worker did (no pool running, the endpoint disabled or not held, the "
            "worker's error)."
        ),
        request=None,
        responses={
            200: ReconnectResult,
            503: OpenApiResponse(ReconnectResult, description="no worker redialled it"),
        },
    )
)
_CHECK_ANSWERS = {
    200: CheckReport,
    503: OpenApiResponse(CheckReport, description="no running pool answered"),
}
endpoint_check = extend_schema_view(
    post=extend_schema(
        tags=TAGS, summary="Ping an endpoint now", request=None, responses=_CHECK_ANSWERS
    )
)
endpoint_check_all = extend_schema_view(
    post=extend_schema(
        operation_id="endpoints_check_all",
        tags=TAGS,
        summary="Ping every enabled endpoint now",
        request=None,
        responses=_CHECK_ANSWERS,
    )
)
endpoint_probe = extend_schema_view(
    post=extend_schema(
        tags=TAGS,
        summary="One request through the load balancer, with failover",
        request=ProbeSerializer,
        responses={
            200: ProbeResult,
            503: OpenApiResponse(ProbeResult, description="no endpoint could answer"),
        },
    )
)
pool_options = extend_schema_view(
    get=extend_schema(
        tags=TAGS, summary="The global connection options (ms)", responses={200: PoolOptions}
    ),
    put=extend_schema(
        tags=TAGS,
        summary="Change the options carried (PUT and PATCH alike)",
        request=PoolOptionsChange,
        responses={200: PoolOptions},
    ),
    patch=extend_schema(
        tags=TAGS,
        summary="Change the options carried",
        request=PoolOptionsChange,
        responses={200: PoolOptions},
    ),
)
