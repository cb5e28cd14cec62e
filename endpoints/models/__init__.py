"""The endpoint app's tables, one module per domain: the endpoint pool (endpoint.py)
and the upstream MCP servers with their tools and call log (mcp_server.py)."""

from .endpoint import Endpoint, EndpointEvent, EndpointLiveStatus, PoolOptions, PoolWorker
from .mcp_server import McpServer, Tool, ToolCall

__all__ = [
    "Endpoint",
    "EndpointEvent",
    "EndpointLiveStatus",
    "McpServer",
    "PoolOptions",
    "PoolWorker",
    "Tool",
    "ToolCall",
]
