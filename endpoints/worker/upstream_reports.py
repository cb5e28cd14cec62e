"""What the upstream runtime reports, stored: listed tools, server status, the call log.

Every worker runs every enabled server, since any endpoint it holds may call
any tool; each stores what its own runtime sees.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from endpoints.services.mcp_server_status import mcp_server_status_store, tool_catalog_store
from endpoints.services.tool_call_log import tool_calls_prune, tool_calls_record
from endpoints.upstreams.records import CallRecord, ServerStatus, UpstreamTool

from .db import DbThread

logger = logging.getLogger(__name__)

PRUNE_INTERVAL = 60.0  # seconds between prunes of the call log by one worker


class CallLogWriter:
    """Appends batches of calls to the log and prunes it at most once a PRUNE_INTERVAL.

    `write` runs on the DB thread; the cadence is this worker's, so a busy worker
    does not run the prune's DELETEs with every batch.
    """

    def __init__(
        self, *, prune_interval: float = PRUNE_INTERVAL, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.prune_interval = prune_interval
        self.clock = clock
        self._last_prune: float | None = None

    def write(self, *, records: list[CallRecord]) -> None:
        if not records:
            return
        tool_calls_record(records=records)
        now = self.clock()
        if self._last_prune is None or now - self._last_prune >= self.prune_interval:
            self._last_prune = now
            tool_calls_prune()


class UpstreamReports:
    def __init__(self, *, db: DbThread) -> None:
        self.db = db
        self.call_log = CallLogWriter()
        self._calls: list[CallRecord] = []

    async def store_catalog(self, server_id: int, tools: list[UpstreamTool]) -> None:
        try:
            await self.db.call(tool_catalog_store, server_id=server_id, tools=tools)
        except Exception:
            logger.exception("could not store the tools of MCP server %s", server_id)

    async def store_server_status(self, status: ServerStatus) -> None:
        try:
            await self.db.call(mcp_server_status_store, status=status)
        except Exception:
            logger.exception("could not store the status of MCP server %s", status.name)

    async def record_call(self, record: CallRecord) -> None:
        self._calls.append(record)  # written in batches by flush_calls()

    async def flush_calls(self) -> None:
        if not self._calls:
            return
        records, self._calls = self._calls, []
        try:
            await self.db.call(self.call_log.write, records=records)
        except Exception:
            logger.exception("could not store %d tool-call log entries", len(records))
