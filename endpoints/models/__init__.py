"""The endpoint app's tables, one module per domain: the endpoint pool (endpoint.py),
the upstream MCP servers with their tools and call log (mcp_server.py), and the
health history of both (history.py), and the tools the hub defines itself
with the platforms they call (custom_tool.py)."""

from .custom_tool import CustomTool, Platform
from .endpoint import Endpoint, EndpointEvent, EndpointLiveStatus, PoolOptions, PoolWorker
from .history import EndpointHealthBucket, McpServerHealthBucket
from .mcp_server import McpServer, Tool, ToolCall

__all__ = [
    "CustomTool",
    "Endpoint",
    "EndpointEvent",
    "EndpointHealthBucket",
    "EndpointLiveStatus",
    "McpServer",
    "McpServerHealthBucket",
    "Platform",
    "PoolOptions",
    "PoolWorker",
    "Tool",
    "ToolCall",
]
