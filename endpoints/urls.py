from django.urls import path

from endpoints import api

urlpatterns = [
    path("api/status", api.PoolStatusView.as_view(), name="pool-status"),
    path("api/endpoints", api.EndpointListView.as_view(), name="endpoint-list"),
    path("api/endpoints/check", api.EndpointCheckView.as_view(), name="endpoint-check-all"),
    path("api/endpoints/probe", api.EndpointProbeView.as_view(), name="endpoint-probe"),
    path(
        "api/endpoints/<int:endpoint_id>", api.EndpointDetailView.as_view(), name="endpoint-detail"
    ),
    path(
        "api/endpoints/<int:endpoint_id>/reconnect",
        api.EndpointReconnectView.as_view(),
        name="endpoint-reconnect",
    ),
    path(
        "api/endpoints/<int:endpoint_id>/check",
        api.EndpointCheckView.as_view(),
        name="endpoint-check",
    ),
    path("api/pool/options", api.PoolOptionsView.as_view(), name="pool-options"),
    path("api/mcp-servers", api.McpServerListView.as_view(), name="mcp-server-list"),
    path(
        "api/mcp-servers/<int:server_id>",
        api.McpServerDetailView.as_view(),
        name="mcp-server-detail",
    ),
    path("api/tools", api.ToolListView.as_view(), name="tool-list"),
    path("api/tools/call", api.ToolCallView.as_view(), name="tool-call"),
    path("api/tools/calls", api.ToolCallLogView.as_view(), name="tool-call-log"),
    path("api/tools/<int:tool_id>", api.ToolDetailView.as_view(), name="tool-detail"),
]
