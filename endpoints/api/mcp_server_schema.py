"""The OpenAPI description of api/mcp_server.py (docs/api.md): one `extend_schema_view`
per view, and the shapes of what the selectors and the tool-call request answer.

The views build their answers as dicts (selectors/mcp_server.py); these serializers
only describe them (env and header values, URLs and arguments masked), and
tests/api/test_schema_responses.py checks live answers against them.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import serializers

from endpoints.models.mcp_server import CALL_OUTCOMES, SERVER_STATES
from endpoints.serializers.mcp_server import (
    McpServerInputSerializer,
    ToolCallSerializer,
    ToolPatchSerializer,
)
from endpoints.upstreams.config import TRANSPORTS, UPSTREAM_STRATEGIES

SERVER_TAGS = ["mcp-servers"]
TOOL_TAGS = ["tools"]
_MASKED = "values masked (***): send them back unchanged to keep the stored ones"


class McpServer(serializers.Serializer):
    """An upstream MCP server (stdio command or URL) with its live state."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    transport = serializers.ChoiceField(choices=TRANSPORTS)
    command = serializers.CharField(allow_blank=True)
    args = serializers.ListField(child=serializers.CharField(allow_blank=True), help_text=_MASKED)
    env = serializers.DictField(child=serializers.CharField(allow_blank=True), help_text=_MASKED)
    cwd = serializers.CharField(allow_blank=True)
    replicas = serializers.IntegerField()
    url = serializers.CharField(allow_blank=True, help_text="masked")
    headers = serializers.DictField(
        child=serializers.CharField(allow_blank=True), help_text=_MASKED
    )
    replicaUrls = serializers.ListField(child=serializers.CharField(), help_text="masked")
    target = serializers.CharField(help_text="what it runs or where it connects, masked")
    enabled = serializers.BooleanField()
    callTimeout = serializers.FloatField()
    loadBalance = serializers.ChoiceField(choices=UPSTREAM_STRATEGIES)
    state = serializers.ChoiceField(choices=SERVER_STATES)
    status = serializers.JSONField(allow_null=True, help_text="the workers' detail, if any")
    lastError = serializers.CharField(allow_blank=True)
    statusUpdatedAt = serializers.DateTimeField(allow_null=True)
    toolCount = serializers.IntegerField()
    toolsEnabled = serializers.IntegerField()
    createdAt = serializers.DateTimeField(allow_null=True)
    updatedAt = serializers.DateTimeField(allow_null=True)


class ToolServer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class ToolCallStats(serializers.Serializer):
    """A tool's numbers over the calls the call log still holds (sampled rows count
    with their number of calls)."""

    calls = serializers.IntegerField(help_text="calls in the log")
    failures = serializers.IntegerField(help_text="calls whose outcome was not ok")
    failureRate = serializers.FloatField(
        allow_null=True, help_text="failures / calls (0..1); null before the first call"
    )
    avgLatencyMs = serializers.FloatField(
        allow_null=True, help_text="average duration in ms; null before the first call"
    )


class Tool(serializers.Serializer):
    """An aggregated tool (`<server>__<tool>`), the operator's settings and its usage."""

    id = serializers.IntegerField()
    name = serializers.CharField(help_text="the exposed name, <server>__<tool>")
    server = ToolServer()
    upstreamName = serializers.CharField()
    enabled = serializers.BooleanField()
    available = serializers.BooleanField(help_text="seen in the server's last tool listing")
    description = serializers.CharField(allow_blank=True)
    descriptionOverride = serializers.CharField(allow_null=True)
    timeout = serializers.FloatField(allow_null=True)
    effectiveTimeout = serializers.FloatField()
    inputSchema = serializers.JSONField()
    usageCount = serializers.IntegerField()
    lastUsedAt = serializers.DateTimeField(allow_null=True)
    lastError = serializers.CharField(allow_blank=True)
    lastErrorAt = serializers.DateTimeField(allow_null=True)
    shadowedBy = serializers.CharField(
        allow_null=True, help_text="the namesake offered instead of this tool, if any"
    )
    callStats = ToolCallStats(help_text="call count, failure rate and latency from the call log")


class ToolCallLogEntry(serializers.Serializer):
    id = serializers.IntegerField()
    at = serializers.DateTimeField()
    tool = serializers.CharField()
    toolId = serializers.IntegerField(allow_null=True)
    serverId = serializers.IntegerField(allow_null=True)
    endpointId = serializers.IntegerField(allow_null=True)
    durationMs = serializers.FloatField()
    outcome = serializers.ChoiceField(choices=CALL_OUTCOMES)
    error = serializers.CharField(allow_blank=True)
    arguments = serializers.CharField(allow_blank=True, help_text="JSON, truncated")
    result = serializers.CharField(allow_blank=True, help_text="text content, truncated")
    replica = serializers.IntegerField(allow_null=True)
    failovers = serializers.IntegerField()


class JsonRpcError(serializers.Serializer):
    code = serializers.IntegerField(required=False)
    message = serializers.CharField()
    data = serializers.JSONField(required=False)


class ToolCallReply(serializers.Serializer):
    """`result` (the tool's own `isError` passes through) or `error` (JSON-RPC)."""

    name = serializers.CharField()
    worker = serializers.CharField(required=False, allow_null=True)
    durationMs = serializers.FloatField(required=False, allow_null=True)
    result = serializers.JSONField(required=False, allow_null=True)
    error = JsonRpcError(required=False)
    poolRunning = serializers.BooleanField(
        required=False, help_text="false (with 503) when no pool runs"
    )


_TOOL_FILTERS = [
    OpenApiParameter("server", str, description="a server's id or name"),
    OpenApiParameter("enabled", bool),
]
_CALL_FILTERS = [
    OpenApiParameter("tool", str, description="an exposed tool name"),
    OpenApiParameter("outcome", str, enum=list(CALL_OUTCOMES)),
    OpenApiParameter(
        "after",
        OpenApiTypes.INT,
        description="only calls logged after this id, oldest first (to follow the log)",
    ),
]

mcp_server_list = extend_schema_view(
    get=extend_schema(
        tags=SERVER_TAGS, summary="MCP servers (paginated)", responses={200: McpServer(many=True)}
    ),
    post=extend_schema(
        tags=SERVER_TAGS,
        summary="Add an MCP server",
        request=McpServerInputSerializer,
        responses={201: McpServer},
    ),
)
mcp_server_detail = extend_schema_view(
    get=extend_schema(tags=SERVER_TAGS, summary="One MCP server", responses={200: McpServer}),
    patch=extend_schema(
        tags=SERVER_TAGS,
        summary="Change an MCP server",
        request=McpServerInputSerializer(partial=True),
        responses={200: McpServer},
    ),
    delete=extend_schema(tags=SERVER_TAGS, summary="Delete an MCP server", responses={204: None}),
)
tool_list = extend_schema_view(
    get=extend_schema(
        tags=TOOL_TAGS,
        summary="Tools with usage (paginated)",
        parameters=_TOOL_FILTERS,
        responses={200: Tool(many=True)},
    )
)
tool_detail = extend_schema_view(
    get=extend_schema(
        tags=TOOL_TAGS,
        summary="One tool",
        description="The tool, the operator's settings and `callStats`: its call count, "
        "failure rate and average latency over the calls the tool-call log holds "
        "(retention HUB_TOOL_LOG_RETENTION_DAYS / HUB_TOOL_LOG_MAX_ROWS).",
        responses={200: Tool},
    ),
    patch=extend_schema(
        tags=TOOL_TAGS,
        summary="Enable, disable or tune a tool",
        request=ToolPatchSerializer,
        responses={200: Tool},
    ),
)
tool_call = extend_schema_view(
    post=extend_schema(
        tags=TOOL_TAGS,
        summary="Call a tool through one pool worker (it really runs)",
        request=ToolCallSerializer,
        responses={
            200: ToolCallReply,
            503: OpenApiResponse(ToolCallReply, description="no pool runs"),
        },
    )
)
tool_call_log = extend_schema_view(
    get=extend_schema(
        tags=TOOL_TAGS,
        summary="The tool-call log (paginated, newest first)",
        parameters=_CALL_FILTERS,
        responses={200: ToolCallLogEntry(many=True)},
    )
)
