"""What the upstream runtime reports, stored: listed tools, server status, the call log.

Every worker runs every enabled server, since any endpoint it holds may call
any tool; each stores what its own runtime sees. Calls of custom tools
(`CustomCallRecord`) go to their own rows (ToolCall.custom_tool) and counters;
past the sampling rate they are counted on the tool but get no log row.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from endpoints.services.custom_tool import custom_tool_calls_record
from endpoints.services.mcp_server_status import mcp_server_status_store, tool_catalog_store
from endpoints.services.tool_call_log import SampledCalls, tool_calls_prune, tool_calls_record
from endpoints.upstreams.custom.config import CustomCallRecord
from endpoints.upstreams.records import CallRecord, ServerStatus, UpstreamTool

from .db import DbThread
from .metrics import NO_METRICS, WorkerMetrics

logger = logging.getLogger(__name__)

PRUNE_INTERVAL = 60.0  # seconds between prunes of the call log by one worker
SAMPLE_WINDOW = timedelta(minutes=1)  # the rate's period: what one sampled row covers at most

# (endpoint, tool, outcome); tool None for names no server has, so a peer that
# invents a name per call still has one budget.
SampleKey = tuple[int | None, str | None, str]


class _Minute:
    """One key's current window: the calls logged in it, and the sampled row of the rest."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.logged = 0
        self.sample: SampledCalls | None = None


class CallLogWriter:
    """Appends batches of calls to the log and prunes it at most once a PRUNE_INTERVAL.

    Per endpoint, tool and outcome, the first HUB_TOOL_LOG_RATE calls of a
    minute get a row each; the rest of that minute's calls are counted into one
    sampled row (services/tool_call_log.SampledCalls). Failures are keys of
    their own, so a flood of successful calls never hides one. Minutes go by
    the calls' own clock (started_at). `write` runs on the DB thread; the
    cadence is this worker's, so a busy worker does not run the prune's DELETEs
    with every batch.
    """

    def __init__(
        self,
        *,
        prune_interval: float = PRUNE_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        rate: int | None = None,
    ) -> None:
        self.prune_interval = prune_interval
        self.clock = clock
        self.rate = rate or settings.HUB_TOOL_LOG_RATE
        self._last_prune: float | None = None
        self._minutes: dict[SampleKey, _Minute] = {}
        self._closed: list[SampledCalls] = []  # sampled rows of past minutes, to store once more

    def write(self, *, records: list[CallRecord]) -> None:
        if not records:
            return
        custom = [record for record in records if isinstance(record, CustomCallRecord)]
        records = [record for record in records if not isinstance(record, CustomCallRecord)]
        if custom:
            kept = [self._keep(record) for record in custom]
            custom_tool_calls_record(
                records=[r for r, keep in zip(custom, kept, strict=True) if keep],
                counted=[r for r, keep in zip(custom, kept, strict=True) if not keep],
            )
        logged = [record for record in records if self._keep(record)]
        current = [m.sample for m in self._minutes.values() if m.sample is not None]
        tool_calls_record(records=logged, sampled=[*self._closed, *current])
        self._closed.clear()
        now = self.clock()
        if self._last_prune is None or now - self._last_prune >= self.prune_interval:
            self._last_prune = now
            tool_calls_prune()
            self._forget_idle(timezone.now())

    def _keep(self, record: CallRecord) -> bool:
        """True: log the call as a row; False: it was counted into its minute's sampled row."""
        custom = isinstance(record, CustomCallRecord)
        tool = record.tool if record.server_id is not None or custom else None
        key = (record.endpoint_id, tool, record.outcome)
        at = record.started_at
        minute = self._minutes.get(key)
        if minute is None or at - minute.start >= SAMPLE_WINDOW:
            if minute is not None and minute.sample is not None:
                self._closed.append(minute.sample)
            minute = self._minutes[key] = _Minute(at)
        if minute.logged < self.rate:
            minute.logged += 1
            return True
        if custom:  # counted on its tool by the caller, no sampled row
            return False
        if minute.sample is None:
            minute.sample = SampledCalls.starting_with(record)
        minute.sample.add(record)
        return False

    def _forget_idle(self, now: datetime) -> None:
        """Drop the minutes that are over and stored: a new call starts its key afresh."""
        over = now - SAMPLE_WINDOW
        self._minutes = {
            key: minute
            for key, minute in self._minutes.items()
            if minute.start >= over or (minute.sample is not None and minute.sample.unstored)
        }


class UpstreamReports:
    def __init__(self, *, db: DbThread, metrics: WorkerMetrics | None = None) -> None:
        self.db = db
        self.metrics = metrics or NO_METRICS
        self.call_log = CallLogWriter()
        self._calls: list[CallRecord] = []

    async def store_catalog(self, server_id: int, tools: list[UpstreamTool]) -> None:
        try:
            await self.db.call(tool_catalog_store, server_id=server_id, tools=tools)
        except Exception:
            logger.exception("could not store the tools of MCP server %s", server_id)

    async def store_server_status(self, status: ServerStatus) -> None:
        self.metrics.on_server_status(status)
        try:
            await self.db.call(mcp_server_status_store, status=status)
        except Exception:
            logger.exception("could not store the status of MCP server %s", status.name)

    async def record_call(self, record: CallRecord) -> None:
        self.metrics.on_call(record)
        self._calls.append(record)  # written in batches by flush_calls()

    async def flush_calls(self) -> None:
        if not self._calls:
            return
        records, self._calls = self._calls, []
        try:
            await self.db.call(self.call_log.write, records=records)
        except Exception:
            logger.exception("could not store %d tool-call log entries", len(records))
