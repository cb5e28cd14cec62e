"""Upstream MCP servers: the client side of the hub (plain asyncio + mcp, no Django).

The hub connects to the operator's MCP servers (stdio child processes, SSE,
streamable HTTP), lists their tools and serves them to every endpoint as
`<server>__<tool>` through `UpstreamManager`, which is the pool's
`ToolRegistry`. Django adapts it at its edges (endpoints/worker.py).
"""

from .config import ReplicaConfig, ServerConfig, ToolKey, ToolSettings
from .records import CallRecord, ReplicaStatus, ServerStatus, UpstreamTool

__all__ = [
    "CallRecord",
    "Collision",
    "ExposedTool",
    "ReplicaConfig",
    "ReplicaStatus",
    "ServerConfig",
    "ServerStatus",
    "ToolKey",
    "ToolSettings",
    "UpstreamError",
    "UpstreamManager",
    "UpstreamTool",
]

_RUNTIME = {"Collision", "ExposedTool", "UpstreamError", "UpstreamManager"}


def __getattr__(name: str):
    # Lazy: Django (endpoints/models.py) imports config/records without loading the mcp runtime.
    if name in _RUNTIME:
        from . import manager

        return getattr(manager, name)
    raise AttributeError(name)
