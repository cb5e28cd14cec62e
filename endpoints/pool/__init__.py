"""The endpoint pool runtime: plain asyncio + websockets + mcp, no Django.

Django adapts it at its edges (endpoints/worker.py). See pool.py for the
entry point, config.py for what it runs (and the peer profiles: broker or
self-hosted relay), health.py for the health score, backoff.py for the reconnect
strategies and errors.py for the error classes.
"""

from .config import (
    BROKER,
    LOAD_BALANCE_STRATEGIES,
    PEER_PROFILES,
    RECONNECT_STRATEGIES,
    RELAY,
    ConnectionOptions,
    EndpointConfig,
    PeerProfile,
    profile_for,
    resolve_peer_profile,
)
from .pool import EndpointPool, NoHealthyEndpoint, RequestResult, StatusCallback
from .registry import (
    BuiltinToolRegistry,
    ToolInvalidArguments,
    ToolNotFound,
    ToolRegistry,
    ToolTimeout,
    ToolUnavailable,
)
from .status import ERROR_CLASSES, STATES, EndpointStatus
from .tokens import token_expired, token_expiry

__all__ = [
    "BROKER",
    "BuiltinToolRegistry",
    "ConnectionOptions",
    "ERROR_CLASSES",
    "EndpointConfig",
    "EndpointPool",
    "EndpointStatus",
    "LOAD_BALANCE_STRATEGIES",
    "NoHealthyEndpoint",
    "PEER_PROFILES",
    "PeerProfile",
    "RECONNECT_STRATEGIES",
    "RELAY",
    "RequestResult",
    "STATES",
    "StatusCallback",
    "ToolInvalidArguments",
    "ToolNotFound",
    "ToolRegistry",
    "ToolTimeout",
    "ToolUnavailable",
    "profile_for",
    "resolve_peer_profile",
    "token_expired",
    "token_expiry",
]
