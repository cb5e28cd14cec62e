"""Health history in the worker: every endpoint's and MCP server's time and pings, in
per-minute and per-hour buckets, aggregated in memory and written once a minute.

Fed by the runtimes' status callbacks (status.py hands over every endpoint
status, upstream_reports.py every server status) and by the writer loop's
tick (service.py, about once a second). Time is attributed from state change
to state change, so an endpoint that is not connected counts as down for every
second of it although no ping runs:

- endpoints: connected/degraded = up; connecting/backoff/failed = down;
  disabled, or no longer held by this worker = not counted (no data);
- MCP servers: ready = up; starting/restarting/failed = down; stopped = not
  counted.

Pings (the pool's probes: health pings and hub requests, the outcomes the
health score counts) come from the status counters: a rise of
`successful_requests` is a success with the status' RTT, a rise of
`consecutive_failures` a failure. A disconnection is a change from up to down;
an outage of a server the same.

When a minute ends, its buckets (of the endpoints that had any data) and the
running totals of their hours become one batch; the writer stores it in one
bulk upsert (services/history.py) and sends it to the consoles. A bucket
belongs to the wall-clock minute (UTC) it measured.
"""

from __future__ import annotations

import bisect
import logging
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from endpoints.events import HealthBucketPayload, send_health_bucket
from endpoints.models.history import RTT_BIN_EDGES_MS, RTT_BINS
from endpoints.pool.status import EndpointStatus
from endpoints.selectors.history import endpoint_bucket_payload, server_bucket_payload
from endpoints.services.history import health_buckets_store
from endpoints.upstreams.records import ServerStatus
from xiaozhi_hub.history import HOUR, MINUTE
from xiaozhi_hub.masking import mask_text

from .db import DbThread

logger = logging.getLogger(__name__)

UP, DOWN = "up", "down"
ENDPOINT_STATES = {
    "connected": UP,
    "degraded": UP,
    "connecting": DOWN,
    "backoff": DOWN,
    "failed": DOWN,
}
SERVER_STATES = {"ready": UP, "starting": DOWN, "restarting": DOWN, "failed": DOWN}
MAX_MINUTES_CLOSED = 24 * 60  # after a longer stall (a suspended host), skip ahead


@dataclass(slots=True)
class Tally:
    """What one bucket holds for one endpoint or server."""

    up: float = 0.0
    down: float = 0.0
    ok: int = 0
    failed: int = 0
    rtt_sum: float = 0.0
    rtt_count: int = 0
    rtt_max: float | None = None
    histogram: list[int] = field(default_factory=lambda: [0] * RTT_BINS)
    disconnections: int = 0

    @property
    def empty(self) -> bool:
        return not (self.up or self.down or self.ok or self.failed or self.disconnections)

    def add_rtt(self, rtt_ms: float) -> None:
        self.rtt_sum += rtt_ms
        self.rtt_count += 1
        if self.rtt_max is None or rtt_ms > self.rtt_max:
            self.rtt_max = rtt_ms
        self.histogram[bisect.bisect_left(RTT_BIN_EDGES_MS, rtt_ms)] += 1

    def merge(self, other: Tally) -> None:
        self.up += other.up
        self.down += other.down
        self.ok += other.ok
        self.failed += other.failed
        self.rtt_sum += other.rtt_sum
        self.rtt_count += other.rtt_count
        if other.rtt_max is not None and (self.rtt_max is None or other.rtt_max > self.rtt_max):
            self.rtt_max = other.rtt_max
        self.histogram = [a + b for a, b in zip(self.histogram, other.histogram, strict=True)]
        self.disconnections += other.disconnections

    def endpoint_fields(self) -> dict:
        """The counters as EndpointHealthBucket fields."""
        return {
            "up_seconds": round(self.up, 3),
            "down_seconds": round(self.down, 3),
            "pings_ok": self.ok,
            "pings_failed": self.failed,
            "rtt_sum_ms": round(self.rtt_sum, 3),
            "rtt_count": self.rtt_count,
            "rtt_max_ms": self.rtt_max,
            "rtt_histogram": list(self.histogram),
            "disconnections": self.disconnections,
        }

    def server_fields(self) -> dict:
        """The counters as McpServerHealthBucket fields."""
        return {
            "up_seconds": round(self.up, 3),
            "down_seconds": round(self.down, 3),
            "outages": self.disconnections,
        }


@dataclass(slots=True)
class _Tracked:
    """One endpoint or server: its state since when, and its open minute and hour."""

    since: float
    kind: str | None = None  # UP, DOWN, or None (not counted)
    gone: bool = False  # no longer run by this worker (kept until its hour ends)
    successes: int = 0
    streak: int = 0
    minute: Tally = field(default_factory=Tally)
    hour: Tally = field(default_factory=Tally)


@dataclass
class HistoryBatch:
    """Rows to store: (id, resolution, start, tally) per endpoint and per server."""

    endpoints: list[tuple[int, str, datetime, Tally]] = field(default_factory=list)
    servers: list[tuple[int, str, datetime, Tally]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.endpoints or self.servers)

    def endpoint_rows(self) -> list[dict]:
        return [
            {"endpoint_id": pk, "resolution": res, "start": start, **tally.endpoint_fields()}
            for pk, res, start, tally in self.endpoints
        ]

    def server_rows(self) -> list[dict]:
        return [
            {"server_id": pk, "resolution": res, "start": start, **tally.server_fields()}
            for pk, res, start, tally in self.servers
        ]


def _moment(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class HealthHistory:
    """The worker's aggregator. Runs on the event loop: cheap calls, no I/O."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock  # wall-clock seconds: buckets are calendar minutes
        self._endpoints: dict[int, _Tracked] = {}
        self._servers: dict[int, _Tracked] = {}
        self._minute: float | None = None  # start of the open minute
        self._batch = HistoryBatch()
        # (kind, id) -> index in the batch of its hour row, replaced by later minutes
        self._hour_rows: dict[tuple[str, int], int] = {}

    # --- what the runtimes report ------------------------------------------------
    def observe_endpoint(self, status: EndpointStatus) -> None:
        now = self._advance()
        tracked = self._endpoints.get(status.endpoint_id)
        if tracked is None or tracked.gone:
            if tracked is None:
                tracked = self._endpoints[status.endpoint_id] = _Tracked(since=now)
            tracked.gone = False
            tracked.since = now
        else:
            self._account(tracked, now)
            self._count_probes(tracked, status)
        tracked.successes = status.successful_requests
        tracked.streak = status.consecutive_failures
        self._set_kind(tracked, ENDPOINT_STATES.get(status.state))

    def observe_server(self, status: ServerStatus) -> None:
        now = self._advance()
        tracked = self._servers.get(status.server_id)
        if tracked is None:
            tracked = self._servers[status.server_id] = _Tracked(since=now)
        elif tracked.gone:
            tracked.gone, tracked.since = False, now
        else:
            self._account(tracked, now)
        self._set_kind(tracked, SERVER_STATES.get(status.state))

    def tick(self, *, endpoints: Iterable[int], servers: Iterable[int]) -> HistoryBatch | None:
        """Close the minutes that ended and stop counting what this worker no longer runs
        (`endpoints`, `servers`: what it runs now); the rows to store, if any."""
        now = self._advance()
        self._forget(self._endpoints, set(endpoints), now)
        self._forget(self._servers, set(servers), now)
        return self._take()

    def drain(self) -> HistoryBatch | None:
        """On shutdown: the open minute and hour as they are now (the last rows)."""
        now = self._advance()
        if self._minute is not None:
            self._close(now, minute_start=self._minute)
        return self._take()

    # --- time and state --------------------------------------------------------------
    def _advance(self) -> float:
        now = self.clock()
        if self._minute is None:
            self._minute = math.floor(now / 60) * 60
        elif now >= self._minute + 60:
            ended = math.floor(now / 60) * 60
            if (ended - self._minute) / 60 > MAX_MINUTES_CLOSED:
                self._minute = ended - 60 * MAX_MINUTES_CLOSED
            while self._minute + 60 <= ended:
                self._close(self._minute + 60, minute_start=self._minute)
                self._minute += 60
        return now

    @staticmethod
    def _account(tracked: _Tracked, now: float) -> None:
        """Add the time since the last change (within the open minute) to its state."""
        elapsed = now - tracked.since
        if elapsed > 0:
            if tracked.kind == UP:
                tracked.minute.up += elapsed
            elif tracked.kind == DOWN:
                tracked.minute.down += elapsed
        tracked.since = now

    @staticmethod
    def _set_kind(tracked: _Tracked, kind: str | None) -> None:
        if tracked.kind == UP and kind == DOWN:
            tracked.minute.disconnections += 1
        tracked.kind = kind

    @staticmethod
    def _count_probes(tracked: _Tracked, status: EndpointStatus) -> None:
        minute = tracked.minute
        ok = status.successful_requests - tracked.successes
        if ok < 0:  # a new connection object: its counters started again
            ok = status.successful_requests
        if ok > 0:
            minute.ok += ok
            if status.rtt_ms is not None:
                for _ in range(ok):  # one callback per outcome: ok is 1
                    minute.add_rtt(status.rtt_ms)
        streak = status.consecutive_failures
        if streak > tracked.streak:
            minute.failed += streak - tracked.streak
        elif 0 < streak < tracked.streak:  # the streak restarted in between
            minute.failed += streak

    def _forget(self, tracked: dict[int, _Tracked], running: set[int], now: float) -> None:
        for key, entry in tracked.items():
            if not entry.gone and key not in running:
                self._account(entry, now)
                entry.gone, entry.kind = True, None

    # --- buckets ----------------------------------------------------------------------
    def _close(self, until: float, *, minute_start: float) -> None:
        """End the minute at `until`: its rows, and the hour rows it changed."""
        hour_start = math.floor(minute_start / 3600) * 3600
        hour_ends = until >= hour_start + 3600
        minute_at, hour_at = _moment(minute_start), _moment(hour_start)
        for kind, tracked, rows in (
            ("e", self._endpoints, self._batch.endpoints),
            ("s", self._servers, self._batch.servers),
        ):
            for key, entry in list(tracked.items()):
                self._account(entry, until)
                minute = entry.minute
                if not minute.empty:
                    rows.append((key, MINUTE, minute_at, minute))
                    entry.hour.merge(minute)
                    entry.minute = Tally()
                    self._hour_row(kind, rows, key, hour_at, entry.hour)
                if hour_ends:
                    entry.hour = Tally()
                    if entry.gone:
                        del tracked[key]

    def _hour_row(self, kind: str, rows: list, key: int, start: datetime, hour: Tally) -> None:
        copy = Tally()
        copy.merge(hour)
        row = (key, HOUR, start, copy)
        index = self._hour_rows.get((kind, key))
        if index is not None and rows[index][2] == start:
            rows[index] = row  # a later minute of the same hour, not yet stored
        else:
            self._hour_rows[(kind, key)] = len(rows)
            rows.append(row)

    def _take(self) -> HistoryBatch | None:
        if not self._batch:
            return None
        batch, self._batch = self._batch, HistoryBatch()
        self._hour_rows = {}
        return batch


class HistoryRecorder:
    """The aggregator with its writer: the batch to the database (on the worker's DB
    thread), then the minute buckets to the consoles (`health_bucket`)."""

    def __init__(self, *, db: DbThread, owner: str, clock: Callable[[], float] = time.time):
        self.db = db
        self.owner = owner
        self.history = HealthHistory(clock=clock)

    def observe_endpoint(self, status: EndpointStatus) -> None:
        self.history.observe_endpoint(status)

    def observe_server(self, status: ServerStatus) -> None:
        self.history.observe_server(status)

    async def flush(self, *, endpoints: Iterable[int], servers: Iterable[int]) -> None:
        """Called about once a second: stores the minutes that ended, if any."""
        batch = self.history.tick(endpoints=endpoints, servers=servers)
        if batch:
            await self._store(batch)

    async def close(self) -> None:
        batch = self.history.drain()
        if batch:
            await self._store(batch)

    async def _store(self, batch: HistoryBatch) -> None:
        try:
            await self.db.call(
                health_buckets_store,
                worker=self.owner,
                endpoint_rows=batch.endpoint_rows(),
                server_rows=batch.server_rows(),
            )
        except Exception:
            logger.exception("could not store the health history")
            return
        payload = HealthBucketPayload(
            resolution=MINUTE,
            bucketSeconds=60,
            worker=self.owner,
            endpoints=[
                {
                    "endpointId": pk,
                    **endpoint_bucket_payload({"start": start, **t.endpoint_fields()}),
                }
                for pk, resolution, start, t in batch.endpoints
                if resolution == MINUTE
            ],
            servers=[
                {"serverId": pk, **server_bucket_payload({"start": start, **t.server_fields()})}
                for pk, resolution, start, t in batch.servers
                if resolution == MINUTE
            ],
        )
        try:
            await send_health_bucket(payload)
        except Exception as exc:
            logger.warning("health_bucket broadcast failed: %s", mask_text(str(exc)))
