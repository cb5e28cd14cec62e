"""REST input of MCP servers and tools: what a client read back (masked) keeps the stored secret."""

from __future__ import annotations

from rest_framework import serializers

from endpoints.mcp_server_secrets import mask_upstream_url, unmask_mapping, unmask_urls
from endpoints.models import McpServer
from endpoints.upstreams.config import TRANSPORTS, UPSTREAM_STRATEGIES
from xiaozhi_hub.masking import mask_text

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
                fields[name] = unmask_mapping(fields[name], getattr(server, name) or {})
        if "url" in fields and server.url and fields["url"] == mask_upstream_url(server.url):
            fields["url"] = server.url
        if "replica_urls" in fields:
            fields["replica_urls"] = unmask_urls(fields["replica_urls"], server.replica_urls or [])
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
