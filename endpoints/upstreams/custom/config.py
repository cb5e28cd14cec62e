"""What Django tells the runtime about custom tools, and what a call of one reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..records import CallRecord


@dataclass(frozen=True)
class CustomToolConfig:
    """One `CustomTool` row. Compared by value: the manager re-lists only on a change."""

    id: int
    name: str  # exposed as is (no `__`, so it never meets a `<server>__<tool>` name)
    kind: str  # http | proxy | mcp | chain | script | function
    description: str
    input_schema: dict[str, Any]
    handler: dict[str, Any] = field(repr=False)  # xiaozhi-client's shape; holds secrets
    enabled: bool = True
    timeout: float = 30.0  # seconds, one attempt (the handler's `timeout`)
    # The `platforms.<name>` settings a proxy tool uses (token, baseUrl): secrets.
    platform: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class CustomCallRecord(CallRecord):
    """A call of a custom tool, for the log (ToolCall.custom_tool) and its counters."""

    custom_tool_id: int | None = None
