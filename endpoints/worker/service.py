"""The pool worker: one process's share of the endpoints, and every upstream MCP server.

Its loops:

- lease loop: every TTL/3 renew leases, give back the excess of the fair share
  and claim free endpoints (endpoints/lease.py); a worker in Redis mode
  (several workers possible) first waits for workers starting with it to
  register (lease.py, "Start-up"); every HUB_POOL_RECONCILE_INTERVAL seconds,
  and at once on a `reload` control message, build the configs of the rows it
  holds and `apply()` them to the pool when they differ from what runs. All its
  database work runs on a thread and connection of its own, and no step of it
  runs past the lease deadline, so a slow status write never delays a renewal
  nor keeps connections open past their lease;
- upstream loop: the same for the upstream MCP servers and custom tools, and the
  extra tools some endpoints get (extra_tools.py: registered by composition apps);
- writer loop: endpoint status (status.py), the tool-call log
  (upstream_reports.py) and the health history (history.py) to the database;
- control subscriber (Redis mode): handlers.py.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Awaitable, Callable

from django.conf import settings

from endpoints import control
from endpoints.lease import lease_release, lease_round, worker_forget, worker_identity
from endpoints.pool.config import EndpointConfig, PeerLimits
from endpoints.pool.pool import EndpointPool
from endpoints.pool.registry import BuiltinToolRegistry
from endpoints.selectors.custom_tool import custom_tool_configs
from endpoints.selectors.endpoint import pool_configs_for
from endpoints.selectors.mcp_server import upstream_configs
from endpoints.upstreams.config import ServerConfig, ToolKey, ToolSettings
from endpoints.upstreams.manager import UpstreamManager
from endpoints.upstreams.records import ServerStatus
from xiaozhi_hub.runtime import runtime

from .db import DbThread
from .extra_tools import ExtraToolsRegistry, extra_tool_providers, refresh_providers
from .handlers import ControlHandlers
from .history import HistoryRecorder
from .metrics import worker_metrics
from .status import EndpointStatusWriter
from .upstream_reports import UpstreamReports

logger = logging.getLogger(__name__)

CALL_LOG_FLUSH_INTERVAL = 1.0  # the tool-call log reaches the DB at most once a second
# Endpoint counters (round trips, request counts; state changes go at once): each
# flush costs a few statements whatever the number of endpoints, and an endpoint's
# counters change about once per health ping (30 s by default).
STATUS_COUNTERS_INTERVAL = 5.0
RENEWAL_RETRY = 1.0  # seconds before a failed (or still waiting) lease renewal is retried
# The extra tools' first load, before any endpoint connects (so a peer's first tools/list
# has them); a database that does not answer in time delays them to the next reconcile.
EXTRA_TOOLS_FIRST_LOAD = 5.0


async def run_endpoint_pool() -> None:
    """The runtime service factory."""
    await PoolWorkerService().run()


async def _wait_for_event(event: asyncio.Event, *, timeout: float) -> bool:
    """Whether `event` was set within `timeout` seconds.

    asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancellation
    that arrives as the event is set, and a stopping worker's loop would run on.
    """
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():  # a stop that met the deadline: stop
            raise asyncio.CancelledError from None
        return False
    return True


class PoolWorkerService:
    def __init__(
        self,
        *,
        owner: str | None = None,
        ttl: float | None = None,
        reconcile_interval: float | None = None,
        settle: float | None = None,
    ) -> None:
        self.owner = owner or worker_identity()
        self.ttl = float(ttl or settings.HUB_POOL_LEASE_TTL)
        self.reconcile_interval = float(reconcile_interval or settings.HUB_POOL_RECONCILE_INTERVAL)
        # One process (no Redis) is the only worker there can be: nobody to wait for.
        if settle is None and control.uses_redis():
            settle = float(getattr(settings, "HUB_POOL_SETTLE", self.ttl / 3))
        self.settle = settle or 0.0  # until the first claim; then 0 (lease.py, "Start-up")
        self.pool: EndpointPool | None = None
        self.upstreams: UpstreamManager | None = None
        self.db = DbThread()  # status, logs, configs
        self.lease_db = DbThread("endpoint-pool-leases")  # leases only: never queued behind a flush
        self.metrics = worker_metrics(self)  # Prometheus (HUB_METRICS_ENABLED)
        self.history = (
            HistoryRecorder(db=self.db, owner=self.owner) if settings.HUB_HISTORY_ENABLED else None
        )
        self.status = EndpointStatusWriter(
            db=self.db, owner=self.owner, metrics=self.metrics, history=self.history
        )
        self.reports = UpstreamReports(db=self.db, metrics=self.metrics)
        self.handlers = ControlHandlers(self)
        self._wake = asyncio.Event()
        self._wake_upstreams = asyncio.Event()
        self._held: set[int] = set()
        self._running_configs: list[EndpointConfig] | None = None
        self._strategy: str | None = None
        self._renew_due = 0.0
        self._lease_deadline = 0.0
        self._pending_release: list[int] = []
        self._renewal: asyncio.Future | None = None  # the lease round under way, if any
        self._renewal_started = 0.0
        self._running_servers: list[ServerConfig] | None = None
        self._running_tool_settings: dict[ToolKey, ToolSettings] | None = None
        self.extra_tools: ExtraToolsRegistry | None = None

    # --- life cycle ---------------------------------------------------------
    async def run(self) -> None:
        self.upstreams = UpstreamManager(
            # hub__status and hub__echo are for testing, not for a production assistant.
            builtin=BuiltinToolRegistry(status_provider=self.summary)
            if settings.HUB_BUILTIN_TOOLS
            else None,
            first_tools_wait=settings.HUB_FIRST_TOOLS_WAIT,
            on_tools_changed=self._tools_changed,
            on_catalog=self.reports.store_catalog,
            on_status=self._server_status,
            on_call=self.reports.record_call,
        )
        # Tools some endpoints get on top of the shared list (extra_tools.py).
        self.extra_tools = ExtraToolsRegistry(
            self.upstreams, extra_tool_providers(), on_call=self.reports.record_call
        )
        if self.extra_tools.providers:
            try:
                async with asyncio.timeout(EXTRA_TOOLS_FIRST_LOAD):
                    await refresh_providers(self.extra_tools.providers, self.db.call)
            except TimeoutError:
                logger.warning("extra tools not loaded yet; the next reconcile tries again")
        self.pool = EndpointPool(
            registry=self.extra_tools,
            on_status=self.status.on_status,
            server_name=settings.HUB_NAME,
            peer_limits=PeerLimits(
                max_inflight=settings.HUB_ENDPOINT_MAX_INFLIGHT,
                send_queue_bytes=settings.HUB_ENDPOINT_SEND_QUEUE_BYTES,
                send_timeout=settings.HUB_ENDPOINT_SEND_TIMEOUT,
            ),
        )
        tasks = [
            asyncio.create_task(self._lease_loop(), name="endpoint-pool-leases"),
            asyncio.create_task(self._upstream_loop(), name="endpoint-pool-upstreams"),
            asyncio.create_task(self._writer_loop(), name="endpoint-pool-status"),
        ]
        if control.uses_redis():
            tasks.append(
                asyncio.create_task(self.handlers.subscribe(), name="endpoint-pool-control")
            )
        else:
            control.bind_local_pool(self)
        logger.info("endpoint pool worker %s started (lease TTL %g s)", self.owner, self.ttl)
        try:
            await asyncio.gather(*tasks)
        finally:
            control.unbind_local_pool(self)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._shutdown()

    async def _shutdown(self) -> None:
        # Close every connection first, then give the leases back, so that no
        # other worker connects while this one still is.
        try:
            await self.pool.close()
            await self.upstreams.close()
            await self.status.flush(counters=True)
            await self.reports.flush_calls()
            if self.history is not None:
                await self.history.close()
            await self.lease_db.call(worker_forget, name=self.owner)
            logger.info("endpoint pool worker %s stopped; leases released", self.owner)
        except Exception:
            logger.exception("endpoint pool worker %s did not stop cleanly", self.owner)
        finally:
            self.db.shutdown()
            self.lease_db.shutdown()

    def wake(self) -> None:
        """Re-read leases and rows now (a `reload`, or control messages possibly missed)."""
        self._wake.set()
        self._wake_upstreams.set()

    # --- one-process mode: the control bus hands messages over directly ----------
    def submit(self, message: dict) -> None:
        """Fire and forget from any thread."""
        runtime.submit(self.handlers.handle(message))

    def call(self, message: dict, *, timeout: float) -> dict:
        """Request and wait for the answer from any thread."""
        future = runtime.submit(self.handlers.handle(message))
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise control.PoolUnavailable(
                f"the endpoint pool did not answer within {timeout:g} s"
            ) from None

    # --- leases and configuration -------------------------------------------
    async def _lease_loop(self) -> None:
        while True:
            now = time.monotonic()
            if now >= self._renew_due:
                await self._lease_round()
            if self._held and time.monotonic() > self._lease_deadline:
                # The leases could not be renewed: another worker may claim them
                # soon, so stop connecting before that can happen.
                logger.warning("endpoint leases could not be renewed; closing their connections")
                self._held = set()
            await self._before_deadline(self._reconcile, "endpoint pool reconcile failed")
            await self._sleep_until_due()

    async def _upstream_loop(self) -> None:
        """The MCP servers' reconcile, in a loop of its own: it reads on the status
        thread, which a big flush may keep busy, and the lease loop must not wait."""
        while True:
            try:
                await self._reconcile_upstreams()
            except Exception:
                logger.exception("MCP server reconcile failed")
            if await _wait_for_event(self._wake_upstreams, timeout=self.reconcile_interval):
                self._wake_upstreams.clear()

    async def _before_deadline(self, step: Callable[[], Awaitable[None]], failed: str) -> None:
        """One step of the lease loop, never past the lease deadline: a database that
        hangs (a lock wait, a dead TCP path) must not keep this loop, and so the
        connections, past the point where another worker may claim the endpoints."""
        left = max(0.0, self._lease_deadline - time.monotonic()) if self._held else None
        try:
            async with asyncio.timeout(left):
                await step()
        except TimeoutError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():  # a stop that met the deadline: stop
                raise asyncio.CancelledError from None
            logger.warning("the lease deadline came first; closing the endpoints' connections")
            self._held = set()
            await self._before_deadline(self._reconcile, failed)  # nothing held: closes all
        except Exception:
            logger.exception(failed)

    async def _sleep_until_due(self) -> None:
        """Until the next renewal or reconcile, and never past the lease deadline (so a
        failing renewal closes the connections on time), unless a reload comes first."""
        due = [self._renew_due - time.monotonic()]
        if self._held:
            due.append(self._lease_deadline - time.monotonic())
        wait = min(self.reconcile_interval, max(0.05, min(due)))
        if await _wait_for_event(self._wake, timeout=wait):
            self._wake.clear()
            self._renew_due = 0.0  # a reload: claim new endpoints right away

    async def _lease_round(self) -> None:
        # One renewal at a time; while leases are held it may take until their deadline
        # and no longer: a database that hangs (a lock wait, a dead TCP path) must not
        # keep the connections open past the lease, when another worker may claim them.
        if self._renewal is None:
            started = time.monotonic()
            self._renewal = asyncio.ensure_future(
                self.lease_db.call(lease_round, owner=self.owner, ttl=self.ttl, settle=self.settle)
            )
            self._renewal_started = started
        budget = max(0.0, self._lease_deadline - time.monotonic()) if self._held else None
        try:
            async with asyncio.timeout(budget):
                result = await asyncio.shield(self._renewal)
        except TimeoutError:
            logger.warning("endpoint lease renewal is still waiting for the database")
            self._renew_due = time.monotonic() + RENEWAL_RETRY
            return
        except Exception:
            logger.exception("endpoint lease renewal failed")
            self._renewal = None
            self._renew_due = time.monotonic() + RENEWAL_RETRY
            return
        started, self._renewal = self._renewal_started, None
        self._held = set(result.held)
        self._pending_release = sorted(set(self._pending_release) | set(result.release))
        # The lease was written at about `started` + TTL; keep a margin of TTL/6.
        self._lease_deadline = started + self.ttl * 5 / 6
        self._renew_due = started + self.ttl / 3
        if result.settling:  # look again soon: the others may have registered by then
            self._renew_due = started + min(self.ttl / 3, RENEWAL_RETRY)
        else:
            self.settle = 0.0
        if result.claimed:
            logger.info(
                "worker %s claimed endpoints %s (share %d of %d workers)",
                self.owner,
                result.claimed,
                result.share,
                result.workers,
            )

    async def _reconcile(self) -> None:
        held = sorted(self._held)
        if held:  # on the lease thread: never queued behind a status flush
            configs, strategy = await self.lease_db.call(
                pool_configs_for, owner=self.owner, endpoint_ids=held
            )
        else:  # nothing held (or leases lost): close everything, even with the DB down
            configs, strategy = [], self._strategy or self.pool.load_balance_strategy
        if strategy != self._strategy:
            self.pool.set_load_balance_strategy(strategy)
            self._strategy = strategy
        if configs != self._running_configs:
            await self.pool.apply(configs)
            self._running_configs = configs
        if self._pending_release:
            release, self._pending_release = self._pending_release, []
            release = [pk for pk in release if pk not in self._held]
            # Their connections are closed (apply above). Their last status is not
            # waited for: once given back, the new holder's reports count.
            await self.lease_db.call(lease_release, owner=self.owner, endpoint_ids=release)
            logger.info("worker %s gave back endpoints %s", self.owner, release)

    async def _reconcile_upstreams(self) -> None:
        # Custom tools first: the first tools/list after apply() has them too. The
        # manager compares them itself and re-lists only on a change.
        await self.upstreams.set_custom_tools(await self.db.call(custom_tool_configs))
        servers, tool_settings = await self.db.call(upstream_configs)
        if servers != self._running_servers:
            await self.upstreams.apply(servers)
            self._running_servers = servers
        if tool_settings != self._running_tool_settings:
            await self.upstreams.set_tool_settings(tool_settings)
            self._running_tool_settings = tool_settings
        # Per-endpoint tools: only the endpoints whose list changed hear of it.
        changed = await refresh_providers(self.extra_tools.providers, self.db.call)
        if changed:
            await self.pool.notify_tools_changed(endpoint_ids=changed)

    async def _server_status(self, status: ServerStatus) -> None:
        if self.history is not None:
            self.history.observe_server(status)
        await self.reports.store_server_status(status)

    async def _tools_changed(self) -> None:
        await self.pool.notify_tools_changed()

    # --- writing what the runtimes report -------------------------------------------
    async def _writer_loop(self) -> None:
        last_calls = last_counters = 0.0
        while True:
            await _wait_for_event(self.status.changed, timeout=CALL_LOG_FLUSH_INTERVAL)
            self.status.changed.clear()
            if time.monotonic() - last_calls >= CALL_LOG_FLUSH_INTERVAL:
                last_calls = time.monotonic()
                await self.reports.flush_calls()
            counters = time.monotonic() - last_counters >= STATUS_COUNTERS_INTERVAL
            if counters:
                last_counters = time.monotonic()
            await self.status.flush(counters=counters)
            if self.history is not None:
                await self.history.flush(
                    endpoints=self.pool.endpoint_ids(),
                    servers=[s.server_id for s in self.upstreams.server_statuses()],
                )

    def summary(self) -> dict:
        """hub__status: what this worker's pool holds."""
        statuses = self.pool.statuses() if self.pool else []
        return {
            "worker": self.owner,
            "endpoints": len(statuses),
            "connected": sum(s.connected for s in statuses),
            "healthy": sum(s.state == "connected" for s in statuses),
            "connections": [
                {"name": s.name, "state": s.state, "healthScore": s.health_score} for s in statuses
            ],
            "upstreamServers": [
                {"name": s.name, "state": s.state, "tools": s.tool_count}
                for s in (self.upstreams.server_statuses() if self.upstreams else [])
            ],
        }
