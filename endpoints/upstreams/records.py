"""What the upstream runtime reports to Django: tools found, server status, calls made.

The manager hands these to callbacks; endpoints/worker.py stores them through
endpoints/services.py (Tool rows, McpServer status, the tool-call log).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

# A replica's or server's state.
#   starting: connecting / process starting; ready: initialized and listed;
#   restarting: failed, waiting for the next try (backoff); failed: gave up or
#   cannot start (bad command, 401...) until its config changes; stopped: disabled.
ServerState = Literal["starting", "ready", "restarting", "failed", "stopped"]

# How a call ended. ok: the upstream answered (isError False); tool_error: the
# upstream answered with isError True (passed through unchanged); timeout: -32002;
# unavailable: -32001 (no replica left); not_found: -32601 (unknown or disabled);
# error: anything else (-32000/-32603, malformed upstream answer).
CallOutcome = Literal["ok", "tool_error", "timeout", "unavailable", "not_found", "error"]


@dataclass(frozen=True)
class UpstreamTool:
    """One tool as an upstream server lists it."""

    name: str  # the upstream's own name
    description: str
    input_schema: dict[str, Any]


@dataclass(frozen=True)
class ReplicaStatus:
    index: int
    label: str  # masked: "stdio: python server.py" or a masked URL
    state: ServerState
    last_error: str = ""  # masked
    restarts: int = 0
    pid: int | None = None  # stdio only
    latency_ms: float | None = None  # recent average of successful calls/lists
    recent_errors: int = 0  # failures among the recent calls


@dataclass(frozen=True)
class ServerStatus:
    server_id: int
    name: str
    state: ServerState  # ready when any replica is ready
    replicas: tuple[ReplicaStatus, ...]
    tool_count: int = 0
    last_error: str = ""  # masked; the newest replica error


@dataclass(frozen=True)
class CallRecord:
    """One tools/call served by the aggregator (for the log and usage counters)."""

    tool: str  # the exposed name that was asked for
    server_id: int | None  # None when the name matched no server
    upstream_tool: str | None
    endpoint_id: int | None  # registry.calling_endpoint at call time
    started_at: datetime  # aware, UTC
    duration_ms: float
    outcome: CallOutcome
    error: str = ""  # masked
    arguments: dict[str, Any] = field(default_factory=dict)
    result_text: str = ""  # the result's text content, joined (truncated by the store)
    replica: int | None = None  # index of the replica that answered
    failovers: int = 0  # replicas tried before the one that answered
