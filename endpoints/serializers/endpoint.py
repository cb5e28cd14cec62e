"""REST input of endpoints, the pool options and probes: camelCase in, model fields out."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from endpoints.models import Endpoint
from endpoints.models.endpoint import validate_endpoint_url
from endpoints.options import CONNECTION_OPTIONS, POOL_OPTIONS, OptionError, options_from_json
from endpoints.pool.config import PEER_PROFILES
from endpoints.pool_requests.endpoint import PROBE_METHODS


class EndpointInputSerializer(serializers.Serializer):
    """POST/PUT/PATCH /api/endpoints: camelCase in, model field names out."""

    name = serializers.CharField(max_length=100)
    url = serializers.CharField(max_length=2000, trim_whitespace=True)
    enabled = serializers.BooleanField(required=False)
    healthCheckEnabled = serializers.BooleanField(required=False)  # noqa: N815 - JSON key
    reconnectOnToolsChange = serializers.BooleanField(required=False)  # noqa: N815 - JSON key
    peerProfile = serializers.ChoiceField(  # noqa: N815 - JSON key
        choices=PEER_PROFILES,
        required=False,
        help_text=(
            "auto (default): a URL with /mcp_endpoint/mcp/ is a self-hosted relay, any other "
            "a broker; broker: xiaozhi.me-style (initializes on connect, answers MCP ping); "
            "relay: self-hosted mcp-endpoint-server (initializes only when a device talks, "
            "checked with WebSocket pings)"
        ),
    )
    options = serializers.JSONField(required=False)

    def validate_url(self, value: str) -> str:
        endpoint: Endpoint | None = self.instance
        # A client that PUTs back what it read sends the masked URL: keep the real one.
        if endpoint is not None and value == endpoint.masked_url:
            return endpoint.url
        try:
            validate_endpoint_url(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None
        return value

    def validate_options(self, value) -> dict:
        try:
            return options_from_json(value, specs=CONNECTION_OPTIONS, allow_null=True)
        except OptionError as exc:
            raise serializers.ValidationError({exc.key: [exc.message]}) from None

    def to_fields(self, *, full: bool) -> dict:
        """Model field values; with full (PUT) omitted ones go back to their defaults."""
        data = self.validated_data
        fields = {}
        for key, field, default in (
            ("name", "name", None),
            ("url", "url", None),
            ("enabled", "enabled", True),
            ("healthCheckEnabled", "health_check_enabled", True),
            ("reconnectOnToolsChange", "reconnect_on_tools_change", False),
            ("peerProfile", "peer_profile", "auto"),
        ):
            if key in data:
                fields[field] = data[key]
            elif full and default is not None:
                fields[field] = default
        if full:
            fields.update({spec.field: None for spec in CONNECTION_OPTIONS})
        fields.update(data.get("options", {}))
        return fields


class PoolOptionsSerializer(serializers.Serializer):
    """PUT/PATCH /api/pool/options: the xiaozhi.config.json connectionOptions shape."""

    def to_internal_value(self, data) -> dict:
        try:
            return options_from_json(data, specs=POOL_OPTIONS)
        except OptionError as exc:
            raise serializers.ValidationError({exc.key: [exc.message]}) from None


class ProbeSerializer(serializers.Serializer):
    method = serializers.ChoiceField(choices=PROBE_METHODS, default="ping")
    params = serializers.DictField(required=False, default=dict)
    timeout = serializers.FloatField(required=False, min_value=0.1, max_value=120)
