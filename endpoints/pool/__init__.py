"""The endpoint pool runtime: plain asyncio + websockets + mcp, no Django.

Django adapts it at its edges (endpoints/worker.py). See pool.py for the
entry point, health.py for the health score, backoff.py for the reconnect
strategies and errors.py for the error classes.
"""

from .config import (
    LOAD_BALANCE_STRATEGIES,
    RECONNECT_STRATEGIES,
    ConnectionOptions,
    EndpointConfig,
)
from .pool import EndpointPool, NoHealthyEndpoint, RequestResult, StatusCallback
from .registry import (
    BuiltinToolRegistry,
    ToolNotFound,
    ToolRegistry,
    ToolTimeout,
    ToolUnavailable,
)
from .status import ERROR_CLASSES, STATES, EndpointStatus
from .tokens import token_expired, token_expiry

__all__ = [
    "BuiltinToolRegistry",
    "ConnectionOptions",
    "ERROR_CLASSES",
    "EndpointConfig",
    "EndpointPool",
    "EndpointStatus",
    "LOAD_BALANCE_STRATEGIES",
    "NoHealthyEndpoint",
    "RECONNECT_STRATEGIES",
    "RequestResult",
    "STATES",
    "StatusCallback",
    "ToolNotFound",
    "ToolRegistry",
    "ToolTimeout",
    "ToolUnavailable",
    "token_expired",
    "token_expiry",
]
