"""REST input validation. Output is built by selectors (URLs always masked)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from endpoints.models import Endpoint, McpServer, mask_upstream_url, validate_endpoint_url
from endpoints.options import CONNECTION_OPTIONS, POOL_OPTIONS, OptionError, options_from_json
from endpoints.services import PROBE_METHODS
from endpoints.upstreams.config import TRANSPORTS, UPSTREAM_STRATEGIES
from xiaozhi_hub.masking import MASK, mask_text


class EndpointInputSerializer(serializers.Serializer):
    """POST/PUT/PATCH /api/endpoints: camelCase in, model field names out."""

    name = serializers.CharField(max_length=100)
    url = serializers.CharField(max_length=2000, trim_whitespace=True)
    enabled = serializers.BooleanField(required=False)
    healthCheckEnabled = serializers.BooleanField(required=False)  # noqa: N815 - JSON key
    reconnectOnToolsChange = serializers.BooleanField(required=False)  # noqa: N815 - JSON key
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


# --- upstream MCP servers ------------------------------------------------------------
# JSON key -> model field of an MCP server.
SERVER_KEYS = {
    "name": "name",
    "transport": "transport",
    "command": "command",
    "args": "args",
    "env": "env",
    "cwd": "cwd",
    "replicas": "replicas",
    "url": "url",
    "headers": "headers",
    "replicaUrls": "replica_urls",
    "enabled": "enabled",
    "callTimeout": "call_timeout",
    "loadBalance": "load_balance",
}


class McpServerInputSerializer(serializers.Serializer):
    """POST/PATCH /api/mcp-servers: what a client read back (masked) keeps the stored secret.

    A value of "***" in env or headers keeps that key's stored value; a URL (or
    replica URL) equal to the masked stored one keeps the stored one. Deeper
    checks (URL scheme, command present) are the model's.
    """

    name = serializers.CharField(max_length=32)
    transport = serializers.ChoiceField(choices=TRANSPORTS, required=False)
    command = serializers.CharField(max_length=500, required=False, allow_blank=True)
    args = serializers.ListField(child=serializers.CharField(allow_blank=True), required=False)
    env = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False)
    cwd = serializers.CharField(max_length=500, required=False, allow_blank=True)
    replicas = serializers.IntegerField(min_value=1, max_value=32, required=False)
    url = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    headers = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False)
    replicaUrls = serializers.ListField(  # noqa: N815 - JSON key
        child=serializers.CharField(max_length=2000), required=False
    )
    enabled = serializers.BooleanField(required=False)
    callTimeout = serializers.FloatField(min_value=0.1, max_value=3600, required=False)  # noqa: N815
    loadBalance = serializers.ChoiceField(choices=UPSTREAM_STRATEGIES, required=False)  # noqa: N815

    def to_fields(self) -> dict:
        server: McpServer | None = self.instance
        fields = {SERVER_KEYS[key]: value for key, value in self.validated_data.items()}
        if server is None:
            return fields
        for name in ("env", "headers"):
            if name in fields:
                stored = getattr(server, name) or {}
                fields[name] = {
                    k: stored.get(k, v) if v == MASK else v for k, v in fields[name].items()
                }
        if "url" in fields and server.url and fields["url"] == mask_upstream_url(server.url):
            fields["url"] = server.url
        if "replica_urls" in fields:
            stored = {mask_upstream_url(url): url for url in server.replica_urls or []}
            fields["replica_urls"] = [stored.get(url, url) for url in fields["replica_urls"]]
        if "args" in fields and fields["args"] == [mask_text(a) for a in server.args or []]:
            fields["args"] = list(server.args or [])
        return fields


class ToolPatchSerializer(serializers.Serializer):
    """PATCH /api/tools/<id>: the operator's settings of one tool."""

    enabled = serializers.BooleanField(required=False)
    descriptionOverride = serializers.CharField(  # noqa: N815 - JSON key
        required=False, allow_blank=True, allow_null=True
    )
    timeout = serializers.FloatField(required=False, allow_null=True, min_value=0.1, max_value=3600)

    def to_fields(self) -> dict:
        keys = {"enabled": "enabled", "descriptionOverride": "description_override"}
        keys["timeout"] = "timeout"
        return {keys[key]: value for key, value in self.validated_data.items()}


class ToolCallSerializer(serializers.Serializer):
    """POST /api/tools/call: a test call of an aggregated tool."""

    name = serializers.CharField(max_length=200)
    arguments = serializers.DictField(required=False, default=dict)
    timeout = serializers.FloatField(required=False, min_value=0.1, max_value=600)
