"""What the pool is told to run: one `EndpointConfig` per endpoint, with its options.

Frozen dataclasses, so `apply()` can tell a changed endpoint from an unchanged
one by plain equality.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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

    def __post_init__(self) -> None:
        if not self.url.lower().startswith(("ws://", "wss://")):
            raise ValueError(f"endpoint {self.name!r}: the URL must start with ws:// or wss://")
