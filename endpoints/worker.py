"""The endpoint pool as a background runtime service (`runtime.register("endpoint-pool")`).

It runs in the Celery worker's main process and in `runhub`. Its loops:

- lease loop: every TTL/3 heartbeat, renew leases, give back the excess of the
  fair share and claim free endpoints (endpoints/lease.py); every
  HUB_POOL_RECONCILE_INTERVAL seconds, and at once on a `reload` control
  message, build the `EndpointConfig`s of the rows it holds and `apply()` them
  to the pool when they differ from what runs.
- control subscriber (Redis mode): pub/sub messages from web processes
  (endpoints/control.py), answered on the message's reply list.
- status writer: status changes are written and broadcast at once, counter
  updates at most once a second per endpoint.
- upstream MCP servers (endpoints/upstreams/): every worker runs every enabled
  server, since any endpoint it holds may call any tool. The reconcile applies
  the `McpServer`/`Tool` rows; tool lists found upstream, server status and the
  tool-call log flow back through endpoints/services.py (the log in batches,
  at most once a second).

ORM work runs on one dedicated thread (one DB connection, checked and
renewed periodically), never on the event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connections

from endpoints import control, selectors, services
from endpoints.events import send_endpoint_health
from endpoints.lease import lease_release, lease_round, worker_forget, worker_identity
from endpoints.pool.config import EndpointConfig
from endpoints.pool.pool import EndpointPool, NoHealthyEndpoint
from endpoints.pool.protocol import TOOL_TIMEOUT, error_response
from endpoints.pool.registry import BuiltinToolRegistry
from endpoints.pool.status import EndpointStatus
from endpoints.upstreams.config import ServerConfig, ToolKey, ToolSettings
from endpoints.upstreams.manager import UpstreamManager
from endpoints.upstreams.records import CallRecord, ServerStatus, UpstreamTool
from xiaozhi_hub.masking import mask_text
from xiaozhi_hub.runtime import runtime

logger = logging.getLogger(__name__)

COUNTER_FLUSH_INTERVAL = 1.0  # counters reach the DB at most once a second per endpoint
DB_CHECK_INTERVAL = 30.0  # seconds between checks of the worker's DB connection

_service: PoolWorkerService | None = None


def local_service() -> PoolWorkerService | None:
    """The pool running in this process, if any (one-process mode's control path)."""
    service = _service
    if service is None or not runtime.running or service.loop is None:
        return None
    return service


async def run_endpoint_pool() -> None:
    """The runtime service factory."""
    await PoolWorkerService().run()


_db_state = threading.local()


def _in_db_thread(fn: Callable, kwargs: dict) -> Any:
    # Long-lived thread: drop a connection that went stale (server restart,
    # wait_timeout) before it fails a query, and after any error.
    last = getattr(_db_state, "checked", 0.0)
    if time.monotonic() - last > DB_CHECK_INTERVAL:
        close_old_connections()
        _db_state.checked = time.monotonic()
    try:
        return fn(**kwargs)
    except Exception:
        for connection in connections.all(initialized_only=True):
            connection.close()
        raise


class PoolWorkerService:
    def __init__(
        self,
        *,
        owner: str | None = None,
        ttl: float | None = None,
        reconcile_interval: float | None = None,
    ) -> None:
        self.owner = owner or worker_identity()
        self.ttl = float(ttl or settings.HUB_POOL_LEASE_TTL)
        self.reconcile_interval = float(reconcile_interval or settings.HUB_POOL_RECONCILE_INTERVAL)
        self.pool: EndpointPool | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._db = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="endpoint-pool-db")
        self._held: set[int] = set()
        self._running_configs: list[EndpointConfig] | None = None
        self._strategy: str | None = None
        self._renew_due = 0.0
        self._lease_deadline = 0.0
        self._pending_release: list[int] = []
        self._changes: list[tuple[EndpointStatus, str]] = []
        self._dirty: dict[int, EndpointStatus] = {}
        self._last_state: dict[int, str] = {}
        self._background: set[asyncio.Task] = set()
        self.upstreams: UpstreamManager | None = None
        self._running_servers: list[ServerConfig] | None = None
        self._running_tool_settings: dict[ToolKey, ToolSettings] | None = None
        self._call_records: list[CallRecord] = []

    # --- life cycle ---------------------------------------------------------
    async def run(self) -> None:
        global _service
        self.loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._status_wake = asyncio.Event()
        self.upstreams = UpstreamManager(
            builtin=BuiltinToolRegistry(status_provider=self.summary),
            on_tools_changed=self._tools_changed,
            on_catalog=self._store_catalog,
            on_status=self._store_server_status,
            on_call=self._record_call,
        )
        self.pool = EndpointPool(
            registry=self.upstreams,
            on_status=self._on_status,
            server_name=settings.HUB_NAME,
        )
        tasks = [
            asyncio.create_task(self._lease_loop(), name="endpoint-pool-leases"),
            asyncio.create_task(self._status_writer(), name="endpoint-pool-status"),
        ]
        if control.uses_redis():
            tasks.append(asyncio.create_task(self._subscriber(), name="endpoint-pool-control"))
        _service = self
        logger.info("endpoint pool worker %s started (lease TTL %g s)", self.owner, self.ttl)
        try:
            await asyncio.gather(*tasks)
        finally:
            _service = None
            for task in [*tasks, *self._background]:
                task.cancel()
            await asyncio.gather(*tasks, *self._background, return_exceptions=True)
            await self._shutdown()

    async def _shutdown(self) -> None:
        # Close every connection first, then give the leases back, so that no
        # other worker connects while this one still is.
        try:
            await self.pool.close()
            await self.upstreams.close()
            await self._flush(counters=True)
            await self._flush_call_records()
            await self._db_call(worker_forget, name=self.owner)
            logger.info("endpoint pool worker %s stopped; leases released", self.owner)
        except Exception:
            logger.exception("endpoint pool worker %s did not stop cleanly", self.owner)
        finally:
            self._db.shutdown(wait=False)

    async def _db_call(self, fn: Callable, /, **kwargs: Any) -> Any:
        return await self.loop.run_in_executor(self._db, partial(_in_db_thread, fn, kwargs))

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
            try:
                await self._reconcile()
            except Exception:
                logger.exception("endpoint pool reconcile failed")
            try:
                await self._reconcile_upstreams()
            except Exception:
                logger.exception("MCP server reconcile failed")
            wait = min(self.reconcile_interval, max(0.05, self._renew_due - time.monotonic()))
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=wait)
                self._wake.clear()
                self._renew_due = 0.0  # a reload: claim new endpoints right away
            except TimeoutError:
                pass

    async def _lease_round(self) -> None:
        started = time.monotonic()
        try:
            result = await self._db_call(lease_round, owner=self.owner, ttl=self.ttl)
        except Exception:
            logger.exception("endpoint lease renewal failed")
            self._renew_due = time.monotonic() + 1.0
            return
        self._held = set(result.held)
        self._pending_release = sorted(set(self._pending_release) | set(result.release))
        # The lease was written at about `started` + TTL; keep a margin of TTL/6.
        self._lease_deadline = started + self.ttl * 5 / 6
        self._renew_due = started + self.ttl / 3
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
        if held:
            configs, strategy = await self._db_call(
                selectors.pool_configs_for, owner=self.owner, endpoint_ids=held
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
            await self._flush(counters=True)
            await self._db_call(lease_release, owner=self.owner, endpoint_ids=release)
            logger.info("worker %s gave back endpoints %s", self.owner, release)

    async def _reconcile_upstreams(self) -> None:
        servers, tool_settings = await self._db_call(selectors.upstream_configs)
        if servers != self._running_servers:
            await self.upstreams.apply(servers)
            self._running_servers = servers
        if tool_settings != self._running_tool_settings:
            await self.upstreams.set_tool_settings(tool_settings)
            self._running_tool_settings = tool_settings

    # --- upstream MCP servers -------------------------------------------------
    async def _tools_changed(self) -> None:
        await self.pool.notify_tools_changed()

    async def _store_catalog(self, server_id: int, tools: list[UpstreamTool]) -> None:
        try:
            await self._db_call(services.tool_catalog_store, server_id=server_id, tools=tools)
        except Exception:
            logger.exception("could not store the tools of MCP server %s", server_id)

    async def _store_server_status(self, status: ServerStatus) -> None:
        try:
            await self._db_call(services.mcp_server_status_store, status=status)
        except Exception:
            logger.exception("could not store the status of MCP server %s", status.name)

    async def _record_call(self, record: CallRecord) -> None:
        self._call_records.append(record)  # written in batches by _status_writer

    async def _flush_call_records(self) -> None:
        if not self._call_records:
            return
        records, self._call_records = self._call_records, []
        try:
            await self._db_call(services.tool_calls_record, records=records)
        except Exception:
            logger.exception("could not store %d tool-call log entries", len(records))

    async def _call_tool(self, message: dict) -> dict:
        """A test call (admin, REST, command), answered as an endpoint's tools/call is."""
        target = message.get("worker")
        if target is not None and target != self.owner:
            return {"skipped": True}
        request = {
            "jsonrpc": "2.0",
            "id": 0,
            "method": "tools/call",
            "params": {"name": message.get("name"), "arguments": message.get("arguments")},
        }
        timeout = message.get("call_timeout")
        started = time.perf_counter()
        try:
            async with asyncio.timeout(float(timeout) if timeout else None):
                response = await self.pool.serve(request)
        except TimeoutError:
            response = error_response(0, TOOL_TIMEOUT, f"no answer within {float(timeout):g} s")
        return {"response": response, "durationMs": (time.perf_counter() - started) * 1000}

    # --- control messages ---------------------------------------------------
    def submit(self, message: dict) -> None:
        """Fire and forget from any thread (one-process mode)."""
        runtime.submit(self.handle(message))

    def call(self, message: dict, *, timeout: float) -> dict:
        """Request and wait for the answer from any thread (one-process mode)."""
        future = runtime.submit(self.handle(message))
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise control.PoolUnavailable(
                f"the endpoint pool did not answer within {timeout:g} s"
            ) from None

    async def handle(self, message: dict) -> dict:
        op = message.get("op")
        reply: dict[str, Any] = {"worker": self.owner, "op": op}
        try:
            if op == control.RELOAD:
                self._wake.set()
            elif op == control.RECONNECT:
                endpoint_id = message.get("endpoint_id")
                reply["done"] = endpoint_id in self.pool.endpoint_ids()
                if reply["done"]:
                    await self.pool.reconnect(endpoint_id)
            elif op == control.CHECK:
                reply["results"] = await self._check(message.get("endpoint_id"))
            elif op == control.PROBE:
                reply.update(await self._probe(message))
            elif op == control.CALL_TOOL:
                reply.update(await self._call_tool(message))
            else:
                reply["error"] = f"unknown control operation {op!r}"
        except Exception as exc:
            logger.exception("endpoint pool control %s failed", op)
            reply["error"] = mask_text(f"{type(exc).__name__}: {exc}")
        return reply

    async def _check(self, endpoint_id: int | None) -> dict[str, float | None]:
        mine = self.pool.endpoint_ids()
        if endpoint_id is not None and endpoint_id not in mine:
            return {}
        results = await self.pool.check_health(endpoint_id)
        return {str(pk): rtt for pk, rtt in results.items()}

    async def _probe(self, message: dict) -> dict:
        target = message.get("worker")
        if target is not None and target != self.owner:
            return {"skipped": True}
        try:
            result = await self.pool.request(
                message.get("method") or "ping",
                message.get("params") or {},
                timeout=message.get("timeout"),
            )
        except NoHealthyEndpoint as exc:
            return {
                "error": mask_text(str(exc)) or "no healthy endpoint",
                "attempts": [
                    {"endpointId": pk, "error": mask_text(error)} for pk, error in exc.attempts
                ],
            }
        return {
            "endpointId": result.endpoint_id,
            "result": result.result,
            "rpcError": result.error,
            "rttMs": result.rtt_ms,
            "attempts": [
                {"endpointId": pk, "error": mask_text(error)} for pk, error in result.attempts
            ],
        }

    async def _subscriber(self) -> None:
        """Listen on the control channel; a Redis outage is retried, never fatal to the pool."""
        import redis.asyncio as aioredis

        while True:
            client = aioredis.from_url(settings.REDIS_URL)
            pubsub = client.pubsub()
            try:
                await pubsub.subscribe(control.control_channel())
                self._wake.set()  # messages may have been missed while away
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is None:
                        continue
                    task = asyncio.create_task(self._answer(client, message["data"]))
                    self._background.add(task)
                    task.add_done_callback(self._background.discard)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("endpoint pool control channel: %s; retrying", mask_text(str(exc)))
                await asyncio.sleep(1.0)
            finally:
                await pubsub.aclose()
                await client.aclose()

    async def _answer(self, client, raw: bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            logger.warning("ignored a malformed endpoint pool control message")
            return
        reply = await self.handle(message)
        reply_to = message.get("reply_to")
        if reply_to:
            await client.rpush(reply_to, json.dumps(reply))
            await client.expire(reply_to, control.REPLY_TTL)

    # --- status ---------------------------------------------------------------
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

    async def _on_status(self, status: EndpointStatus, state_changed: bool) -> None:
        snapshot = status.snapshot()
        if state_changed:
            previous = self._last_state.get(snapshot.endpoint_id, "")
            self._last_state[snapshot.endpoint_id] = snapshot.state
            self._dirty.pop(snapshot.endpoint_id, None)
            self._changes.append((snapshot, previous))
            self._status_wake.set()
        else:
            self._dirty[snapshot.endpoint_id] = snapshot

    async def _status_writer(self) -> None:
        last_counters = 0.0
        while True:
            try:
                await asyncio.wait_for(self._status_wake.wait(), timeout=COUNTER_FLUSH_INTERVAL)
            except TimeoutError:
                pass
            self._status_wake.clear()
            counters = time.monotonic() - last_counters >= COUNTER_FLUSH_INTERVAL
            if counters:
                last_counters = time.monotonic()
                await self._flush_call_records()
            await self._flush(counters=counters)

    async def _flush(self, *, counters: bool) -> None:
        changes, self._changes = self._changes, []
        latest: list[EndpointStatus] = []
        if counters:
            latest, self._dirty = list(self._dirty.values()), {}
        if not changes and not latest:
            return
        try:
            await self._db_call(
                services.endpoint_status_store,
                worker=self.owner,
                changes=changes,
                latest=latest,
            )
        except Exception:
            logger.exception("could not store endpoint status")
        for snapshot in [status for status, _ in changes] + latest:
            try:
                payload = selectors.status_payload(snapshot, worker=self.owner)
                await send_endpoint_health(payload)
            except Exception as exc:
                logger.warning("endpoint_health broadcast failed: %s", mask_text(str(exc)))
