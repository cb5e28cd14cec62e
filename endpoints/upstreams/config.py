"""What the hub is told to run: upstream servers, their replicas, tool settings.

Plain frozen dataclasses, built by Django (endpoints/selectors.py) from the
`McpServer` and `Tool` rows and compared by value: the manager restarts a
server only when its `ServerConfig` changed, and re-lists nothing when only
tool settings changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Transport = Literal["stdio", "sse", "streamable-http"]
TRANSPORTS: tuple[str, ...] = ("stdio", "sse", "streamable-http")
UPSTREAM_STRATEGIES: tuple[str, ...] = ("round-robin", "random", "health-based")


@dataclass(frozen=True)
class ReplicaConfig:
    """One copy of a server: a stdio process, or one URL. Env and headers are secrets."""

    command: str = ""
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    cwd: str | None = None
    url: str = field(default="", repr=False)
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class ServerConfig:
    id: int
    name: str  # validated by naming.server_name_problem
    transport: Transport
    replicas: tuple[ReplicaConfig, ...]  # at least one; all offer the same tools
    enabled: bool = True
    call_timeout: float = 30.0  # seconds, per call, unless the tool overrides it
    load_balance: str = "round-robin"  # one of UPSTREAM_STRATEGIES, among replicas


@dataclass(frozen=True)
class ToolSettings:
    """The operator's choices for one upstream tool (a `Tool` row)."""

    enabled: bool = True
    description: str | None = None  # override; None keeps the upstream's
    timeout: float | None = None  # override of the server's call_timeout


# Tool settings are keyed by (server id, upstream tool name).
ToolKey = tuple[int, str]
