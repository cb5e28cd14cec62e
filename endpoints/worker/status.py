"""Endpoint status from the pool to the database and the console.

A change of state is written (with an event) and broadcast at once; counter
updates (RTT, request counts) are kept per endpoint and written every few
seconds (service.py, STATUS_COUNTERS_INTERVAL), so a busy pool does not turn
every ping into a query. Each flush is a few statements for all its endpoints
(endpoints/services/endpoint_status.py).
"""

from __future__ import annotations

import asyncio
import logging

from endpoints.events import send_endpoint_health
from endpoints.pool.status import EndpointStatus
from endpoints.selectors.endpoint import status_payload
from endpoints.services.endpoint_status import endpoint_status_store
from xiaozhi_hub.masking import mask_text

from .db import DbThread
from .history import HistoryRecorder
from .metrics import NO_METRICS, WorkerMetrics

logger = logging.getLogger(__name__)


class EndpointStatusWriter:
    def __init__(
        self,
        *,
        db: DbThread,
        owner: str,
        metrics: WorkerMetrics | None = None,
        history: HistoryRecorder | None = None,
    ) -> None:
        self.db = db
        self.owner = owner
        self.history = history  # health history (history.py): every status, not throttled
        self.metrics = metrics or NO_METRICS
        self.changed = asyncio.Event()  # set when a state change waits to be written
        self._changes: list[tuple[EndpointStatus, str]] = []
        self._dirty: dict[int, EndpointStatus] = {}
        self._last_state: dict[int, str] = {}

    async def on_status(self, status: EndpointStatus, state_changed: bool) -> None:
        """The pool's status callback."""
        if self.history is not None:
            self.history.observe_endpoint(status)
        snapshot = status.snapshot()
        self.metrics.on_status(snapshot)
        if state_changed:
            previous = self._last_state.get(snapshot.endpoint_id, "")
            self._last_state[snapshot.endpoint_id] = snapshot.state
            self._dirty.pop(snapshot.endpoint_id, None)
            self._changes.append((snapshot, previous))
            self.changed.set()
        else:
            self._dirty[snapshot.endpoint_id] = snapshot

    async def flush(self, *, counters: bool) -> None:
        """Write the pending changes (and, with `counters`, the latest counters), then
        broadcast each written status."""
        changes, self._changes = self._changes, []
        latest: list[EndpointStatus] = []
        if counters:
            latest, self._dirty = list(self._dirty.values()), {}
        if not changes and not latest:
            return
        try:
            await self.db.call(
                endpoint_status_store, worker=self.owner, changes=changes, latest=latest
            )
        except Exception:
            logger.exception("could not store endpoint status")
        for snapshot in [status for status, _ in changes] + latest:
            try:
                await send_endpoint_health(status_payload(snapshot, worker=self.owner))
            except Exception as exc:
                logger.warning("endpoint_health broadcast failed: %s", mask_text(str(exc)))
