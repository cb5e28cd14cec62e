from django.urls import path

from endpoints.api import custom_tool as custom_api
from endpoints.api import endpoint as endpoint_api
from endpoints.api import history as history_api
from endpoints.api import mcp_server as mcp_api

urlpatterns = [
    path("api/status", endpoint_api.PoolStatusView.as_view(), name="pool-status"),
    path("api/endpoints", endpoint_api.EndpointListView.as_view(), name="endpoint-list"),
    path(
        "api/endpoints/check",
        endpoint_api.EndpointCheckAllView.as_view(),
        name="endpoint-check-all",
    ),
    path("api/endpoints/probe", endpoint_api.EndpointProbeView.as_view(), name="endpoint-probe"),
    path(
        "api/endpoints/<int:endpoint_id>",
        endpoint_api.EndpointDetailView.as_view(),
        name="endpoint-detail",
    ),
    path(
        "api/endpoints/<int:endpoint_id>/reconnect",
        endpoint_api.EndpointReconnectView.as_view(),
        name="endpoint-reconnect",
    ),
    path(
        "api/endpoints/<int:endpoint_id>/check",
        endpoint_api.EndpointCheckView.as_view(),
        name="endpoint-check",
    ),
    path(
        "api/endpoints/<int:endpoint_id>/history",
        history_api.EndpointHistoryView.as_view(),
        name="endpoint-history",
    ),
    path("api/pool/options", endpoint_api.PoolOptionsView.as_view(), name="pool-options"),
    path("api/mcp-servers", mcp_api.McpServerListView.as_view(), name="mcp-server-list"),
    path(
        "api/mcp-servers/<int:server_id>",
        mcp_api.McpServerDetailView.as_view(),
        name="mcp-server-detail",
    ),
    path(
        "api/mcp-servers/<int:server_id>/history",
        history_api.McpServerHistoryView.as_view(),
        name="mcp-server-history",
    ),
    path("api/tools", mcp_api.ToolListView.as_view(), name="tool-list"),
    path("api/tools/call", mcp_api.ToolCallView.as_view(), name="tool-call"),
    path("api/tools/calls", mcp_api.ToolCallLogView.as_view(), name="tool-call-log"),
    path("api/tools/<int:tool_id>", mcp_api.ToolDetailView.as_view(), name="tool-detail"),
    path("api/custom-tools", custom_api.CustomToolListView.as_view(), name="custom-tool-list"),
    path(
        "api/custom-tools/<int:custom_tool_id>",
        custom_api.CustomToolDetailView.as_view(),
        name="custom-tool-detail",
    ),
    path("api/platforms", custom_api.PlatformListView.as_view(), name="platform-list"),
    path(
        "api/platforms/<int:platform_id>",
        custom_api.PlatformDetailView.as_view(),
        name="platform-detail",
    ),
]
