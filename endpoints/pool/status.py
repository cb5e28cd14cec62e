"""The live status of one endpoint, as the pool reports it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from xiaozhi_hub.masking import mask_text

STATES = ("connecting", "connected", "degraded", "backoff", "failed", "disabled")
ERROR_CLASSES = ("network", "timeout", "auth", "server", "protocol")
RECONNECT_HISTORY = 10  # entries kept in EndpointStatus.reconnect_history


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass
class EndpointStatus:
    endpoint_id: int
    name: str
    url: str = field(repr=False)  # raw (a secret); to_dict() masks it
    enabled: bool = True
    state: str = "connecting"
    connected: bool = False
    initialized: bool = False
    last_connected: datetime | None = None
    last_error: str = ""  # already masked
    error_class: str | None = None
    reconnect_attempts: int = 0
    next_reconnect_at: datetime | None = None
    health_score: float = 0.0
    rtt_ms: float | None = None
    rtt_p95_ms: float | None = None
    rtt_history: list[float] = field(default_factory=list)
    consecutive_failures: int = 0
    total_requests: int = 0  # hub → peer requests: health pings and pool.request()
    successful_requests: int = 0
    # newest last: {at, error_class, error, delay (s; None when it ended in `failed`)}
    reconnect_history: list[dict] = field(default_factory=list)
    token_expires_at: datetime | None = None
    token_expired: bool = False
    tool_calls: int = 0  # peer → hub tools/call requests answered (errors included)
    peer_profile: str = "broker"  # resolved: "broker" or "relay" (config.PeerProfile.name)

    @property
    def waiting_for_device(self) -> bool:
        """A relay that is up but no robot has initialized through it yet: normal, not an
        error (a relay forwards `initialize` only when a device session starts)."""
        return self.peer_profile == "relay" and self.connected and not self.initialized

    def snapshot(self) -> EndpointStatus:
        """A copy that later changes of the live status do not reach."""
        clone = object.__new__(EndpointStatus)
        clone.__dict__.update(self.__dict__)  # a shallow copy, several times faster than copy()
        clone.rtt_history = list(self.rtt_history)
        clone.reconnect_history = [dict(entry) for entry in self.reconnect_history]
        return clone

    def to_dict(self) -> dict:
        return {
            "id": self.endpoint_id,
            "name": self.name,
            "url": mask_text(self.url),
            "enabled": self.enabled,
            "state": self.state,
            "connected": self.connected,
            "initialized": self.initialized,
            "lastConnected": _iso(self.last_connected),
            "lastError": self.last_error,
            "errorClass": self.error_class,
            "reconnectAttempts": self.reconnect_attempts,
            "nextReconnectAt": _iso(self.next_reconnect_at),
            "healthScore": self.health_score,
            "rttMs": self.rtt_ms,
            "rttP95Ms": self.rtt_p95_ms,
            "rttHistory": list(self.rtt_history),
            "consecutiveFailures": self.consecutive_failures,
            "totalRequests": self.total_requests,
            "successfulRequests": self.successful_requests,
            "reconnectHistory": [
                {**entry, "at": _iso(entry["at"])} for entry in self.reconnect_history
            ],
            "tokenExpiresAt": _iso(self.token_expires_at),
            "tokenExpired": self.token_expired,
            "toolCalls": self.tool_calls,
            "peerProfile": self.peer_profile,
            "waitingForDevice": self.waiting_for_device,
        }
