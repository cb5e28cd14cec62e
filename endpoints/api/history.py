"""REST views of the health history: an endpoint's or an MCP server's buckets and uptime
(GET /api/endpoints/<id>/history, GET /api/mcp-servers/<id>/history; docs/endpoint-pool.md)."""

from __future__ import annotations

from rest_framework.response import Response
from rest_framework.views import APIView

from endpoints.api import history_schema as schema
from endpoints.api.common import get_or_404
from endpoints.models import Endpoint, McpServer
from endpoints.selectors.history import endpoint_history, mcp_server_history
from xiaozhi_hub.history import requested_range


@schema.endpoint_history
class EndpointHistoryView(APIView):
    """?range=24h (minute buckets, the default) | 7d | 30d (hour buckets)."""

    permissions_required = {
        "GET": ("endpoints.view_endpoint", "endpoints.view_endpointhealthbucket")
    }

    def get(self, request, endpoint_id: int):
        window = requested_range(request)
        endpoint = get_or_404(Endpoint, endpoint_id, what="endpoint")
        return Response(endpoint_history(endpoint=endpoint, window=window))


@schema.mcp_server_history
class McpServerHistoryView(APIView):
    """?range=24h | 7d | 30d, as for endpoints: how long the server was ready."""

    permissions_required = {
        "GET": ("endpoints.view_mcpserver", "endpoints.view_mcpserverhealthbucket")
    }

    def get(self, request, server_id: int):
        window = requested_range(request)
        server = get_or_404(McpServer, server_id, what="MCP server")
        return Response(mcp_server_history(server=server, window=window))
