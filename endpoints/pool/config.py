"""What the pool is told to run: one `EndpointConfig` per endpoint, with its options.

Frozen dataclasses, so `apply()` can tell a changed endpoint from an unchanged
one by plain equality.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

RECONNECT_STRATEGIES = ("exponential-backoff", "linear-backoff", "fixed-interval", "adaptive")
LOAD_BALANCE_STRATEGIES = ("round-robin", "random", "health-based")


@dataclass(frozen=True)
class ConnectionOptions:
    health_check_interval: float = 30.0  # seconds between the hub's MCP pings
    reconnect_interval: float = 5.0  # base delay of every reconnect strategy
    max_reconnect_attempts: int = 10  # consecutive failed attempts before `failed`; 0 = forever
    max_reconnect_delay: float = 30.0  # cap on any single delay, jitter included
    connection_timeout: float = 10.0  # TCP + TLS + WebSocket handshake, and each ping/request
    reconnect_strategy: str = "exponential-backoff"
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.reconnect_strategy not in RECONNECT_STRATEGIES:
            raise ValueError(
                f"unknown reconnect strategy {self.reconnect_strategy!r}; "
                f"expected one of {', '.join(RECONNECT_STRATEGIES)}"
            )
        for name in (
            "health_check_interval",
            "reconnect_interval",
            "max_reconnect_delay",
            "connection_timeout",
        ):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if self.max_reconnect_attempts < 0:
            raise ValueError("max_reconnect_attempts must be >= 0 (0 = retry forever)")


@dataclass(frozen=True)
class PeerLimits:
    """What one endpoint's peer can make the hub hold (process-wide, from settings).

    A peer that sends requests faster than they are answered gets an error for
    each one over `max_inflight` at once (nothing is forwarded upstream); a
    peer that does not read its replies is disconnected once `send_queue_bytes`
    of them have waited `send_timeout` seconds for it.
    """

    max_inflight: int = 32  # requests of one connection being answered at the same time
    send_queue_bytes: int = 1 << 20  # replies written but not yet taken by the peer's TCP
    send_timeout: float = 30.0  # how long a reply may wait for room in that queue

    def __post_init__(self) -> None:
        if self.max_inflight < 1 or self.send_queue_bytes < 1024 or not self.send_timeout > 0:
            raise ValueError(
                "peer limits: max_inflight >= 1, send_queue_bytes >= 1024 and send_timeout > 0"
            )


PEER_PROFILES = ("auto", "broker", "relay")  # as configured; "auto" is resolved from the URL
RESOLVED_PEER_PROFILES = ("broker", "relay")  # what "auto" becomes
RELAY_PATH = "/mcp_endpoint/mcp/"  # the tool side of xinnan-tech's mcp-endpoint-server


def resolve_peer_profile(profile: str, url: str) -> str:
    """ "broker" or "relay": "auto" means a relay when the URL's path holds /mcp_endpoint/mcp/.

    (Also behind a reverse proxy's path prefix, and without the trailing slash.)
    """
    if profile not in PEER_PROFILES:
        raise ValueError(
            f"unknown peer profile {profile!r}; expected one of {', '.join(PEER_PROFILES)}"
        )
    if profile != "auto":
        return profile
    path = urlsplit(url).path.lower().rstrip("/") + "/"
    return "relay" if RELAY_PATH in path else "broker"


@dataclass(frozen=True)
class PeerProfile:
    """How the peer behaves, and so how the hub watches it.

    A xiaozhi.me-style broker sends `initialize` as soon as the hub connects,
    answers MCP `ping` and passes the hub's notifications on. A self-hosted relay
    (mcp-endpoint-server) forwards `initialize` only when a device session starts,
    and drops every request and notification the hub originates: it is watched by
    WebSocket ping frames (which it answers), with no initialize deadline.
    """

    name: str = "broker"
    # Seconds a new connection may go without `initialize` before it is dropped:
    # None = the endpoint's connection timeout, 0 = no deadline.
    initialize_timeout: float | None = None
    # Liveness and RTT by MCP ping (True) or by WebSocket ping frames (False).
    mcp_ping: bool = True
    # The peer routes the hub's own requests and notifications (relays drop them).
    routes_hub_messages: bool = True

    def __post_init__(self) -> None:
        if self.name not in RESOLVED_PEER_PROFILES:
            raise ValueError(f"a peer profile is 'broker' or 'relay', got {self.name!r}")
        if self.initialize_timeout is not None and self.initialize_timeout < 0:
            raise ValueError("initialize_timeout must be >= 0 (0 = no deadline)")


BROKER = PeerProfile()
RELAY = PeerProfile("relay", initialize_timeout=0, mcp_ping=False, routes_hub_messages=False)


def profile_for(profile: str, url: str, *, broker: PeerProfile = BROKER) -> PeerProfile:
    """The PeerProfile of a configured profile name ("auto" resolved); brokers' settings
    come from the caller (process-wide settings at the Django edge)."""
    return RELAY if resolve_peer_profile(profile, url) == "relay" else broker


@dataclass(frozen=True)
class EndpointConfig:
    id: int
    name: str
    url: str = field(repr=False)  # ws:// or wss:// with the token: a secret, never in repr
    enabled: bool = True
    health_check_enabled: bool = True
    options: ConnectionOptions = ConnectionOptions()
    # Reconnect (besides notifying) when the tool list changes: for peers that
    # ignore notifications/tools/list_changed and only list tools after initialize.
    reconnect_on_tools_change: bool = False
    profile: PeerProfile = BROKER

    def __post_init__(self) -> None:
        if not self.url.lower().startswith(("ws://", "wss://")):
            raise ValueError(f"endpoint {self.name!r}: the URL must start with ws:// or wss://")
