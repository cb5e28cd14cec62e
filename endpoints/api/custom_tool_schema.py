"""The OpenAPI description of api/custom_tool.py (docs/api.md and docs/custom-tools.md).

The views build their answers as dicts (selectors/custom_tool.py); these
serializers only describe them (the handler's and the platforms' secrets masked).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers

from endpoints.models.custom_tool import CUSTOM_TOOL_KINDS
from endpoints.serializers.custom_tool import CustomToolInputSerializer, PlatformInputSerializer

CUSTOM_TAGS = ["custom-tools"]
PLATFORM_TAGS = ["platforms"]
_KINDS = "one of " + ", ".join(CUSTOM_TOOL_KINDS) + " (the handler's type)"
_MASKED = "secrets masked (***): send them back unchanged to keep the stored ones"


class CustomTool(serializers.Serializer):
    """A tool the hub defines itself (xiaozhi-client's customMCP.tools entry), served to
    every endpoint under its own name."""

    id = serializers.IntegerField()
    name = serializers.CharField(help_text="the name endpoints see")
    kind = serializers.CharField(help_text=_KINDS)
    description = serializers.CharField(allow_blank=True)
    inputSchema = serializers.JSONField(help_text="JSON Schema; calls are checked against it")
    handler = serializers.JSONField(help_text="xiaozhi-client's handler object; " + _MASKED)
    enabled = serializers.BooleanField()
    disabledReason = serializers.CharField(
        allow_blank=True, help_text="why the hub cannot run it (a JavaScript function)"
    )
    timeout = serializers.FloatField(help_text="seconds, one attempt")
    usageCount = serializers.IntegerField()
    lastUsedAt = serializers.DateTimeField(allow_null=True)
    lastError = serializers.CharField(allow_blank=True)
    lastErrorAt = serializers.DateTimeField(allow_null=True)
    createdAt = serializers.DateTimeField(allow_null=True)
    updatedAt = serializers.DateTimeField(allow_null=True)


class Platform(serializers.Serializer):
    """A platform's credentials (xiaozhi-client's platforms.<name>), used by proxy tools."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    settings = serializers.DictField(help_text="token/apiKey " + _MASKED + "; baseUrl as is")
    createdAt = serializers.DateTimeField(allow_null=True)
    updatedAt = serializers.DateTimeField(allow_null=True)


_FILTERS = [
    OpenApiParameter("kind", str, enum=list(CUSTOM_TOOL_KINDS)),
    OpenApiParameter("enabled", bool),
]
_SCRIPT = " A `script` tool (or turning a tool into one) also needs endpoints.run_commands."

custom_tool_list = extend_schema_view(
    get=extend_schema(
        tags=CUSTOM_TAGS,
        summary="Custom tools (paginated)",
        parameters=_FILTERS,
        responses={200: CustomTool(many=True)},
    ),
    post=extend_schema(
        tags=CUSTOM_TAGS,
        summary="Add a custom tool",
        description="The handler in xiaozhi-client's shape (http, proxy, mcp, chain, script, "
        "function); a function tool is stored disabled: the hub cannot run JavaScript." + _SCRIPT,
        request=CustomToolInputSerializer,
        responses={201: CustomTool},
    ),
)
custom_tool_detail = extend_schema_view(
    get=extend_schema(tags=CUSTOM_TAGS, summary="One custom tool", responses={200: CustomTool}),
    patch=extend_schema(
        tags=CUSTOM_TAGS,
        summary="Change a custom tool",
        description="Applies at run time, without a restart." + _SCRIPT,
        request=CustomToolInputSerializer(partial=True),
        responses={200: CustomTool},
    ),
    delete=extend_schema(
        tags=CUSTOM_TAGS,
        summary="Delete a custom tool",
        description="Deleting a script tool also needs endpoints.run_commands.",
        responses={204: None},
    ),
)
platform_list = extend_schema_view(
    get=extend_schema(
        tags=PLATFORM_TAGS, summary="Platforms (paginated)", responses={200: Platform(many=True)}
    ),
    post=extend_schema(
        tags=PLATFORM_TAGS,
        summary="Add a platform's credentials",
        request=PlatformInputSerializer,
        responses={201: Platform},
    ),
)
platform_detail = extend_schema_view(
    get=extend_schema(tags=PLATFORM_TAGS, summary="One platform", responses={200: Platform}),
    patch=extend_schema(
        tags=PLATFORM_TAGS,
        summary="Change a platform",
        request=PlatformInputSerializer(partial=True),
        responses={200: Platform},
    ),
    delete=extend_schema(tags=PLATFORM_TAGS, summary="Delete a platform", responses={204: None}),
)
