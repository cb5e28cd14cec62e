"""REST input of custom tools and platforms. What a client read back (secrets "***")
keeps the stored secrets: the services put them back (custom_tool_shape.unmask_*)."""

from __future__ import annotations

from django.utils.translation import gettext
from rest_framework import serializers

from endpoints.models.custom_tool import CUSTOM_TOOL_KINDS
from endpoints.upstreams.naming import MAX_NAME

# JSON key -> model field.
CUSTOM_TOOL_KEYS = {
    "name": "name",
    "kind": "kind",
    "description": "description",
    "inputSchema": "input_schema",
    "handler": "handler",
    "enabled": "enabled",
    "timeout": "timeout",
}
PLATFORM_KEYS = {"name": "name", "settings": "settings"}


class CustomToolInputSerializer(serializers.Serializer):
    """POST/PATCH /api/custom-tools: the tool in the hub's keys, its handler in
    xiaozhi-client's shape (`type` is the kind). Deeper checks (the handler's keys,
    the inputSchema being a JSON Schema) are the service's."""

    name = serializers.CharField(max_length=MAX_NAME)
    kind = serializers.CharField(
        max_length=16, required=False, help_text="one of " + ", ".join(CUSTOM_TOOL_KINDS)
    )
    description = serializers.CharField(max_length=10_000, required=False, allow_blank=True)
    inputSchema = serializers.DictField(required=False)  # noqa: N815 - JSON key
    handler = serializers.DictField()
    enabled = serializers.BooleanField(required=False)
    timeout = serializers.FloatField(min_value=0.1, max_value=3600, required=False)

    def validate_kind(self, value: str) -> str:
        # Not a ChoiceField: the schema would name its enum after the field, as others do.
        if value not in CUSTOM_TOOL_KINDS:
            raise serializers.ValidationError(
                gettext("must be one of %(choices)s") % {"choices": ", ".join(CUSTOM_TOOL_KINDS)}
            )
        return value

    def to_fields(self) -> dict:
        return {CUSTOM_TOOL_KEYS[key]: value for key, value in self.validated_data.items()}


class PlatformInputSerializer(serializers.Serializer):
    """POST/PATCH /api/platforms: {name, settings: {token|apiKey, baseUrl}}."""

    name = serializers.CharField(max_length=64)
    settings = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=4000), required=False
    )

    def to_fields(self) -> dict:
        return {PLATFORM_KEYS[key]: value for key, value in self.validated_data.items()}
