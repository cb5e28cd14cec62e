"""Answers to control messages (endpoints/control.py), one handler per operation.

In Redis mode every pool worker subscribes to the control channel and pushes
its reply to the message's reply list; in one-process mode the bus hands the
message to the bound worker directly (PoolWorkerService.submit/call).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import redis.asyncio as aioredis
from django.conf import settings

from endpoints import control
from endpoints.pool.pool import EndpointPool, NoHealthyEndpoint
from endpoints.pool.protocol import TOOL_TIMEOUT, error_response
from xiaozhi_hub.masking import mask_text

logger = logging.getLogger(__name__)

Handler = Callable[[dict], Awaitable[dict[str, Any]]]
CLOSE_TIMEOUT = 2.0  # seconds to close the control channel's Redis connections


class PoolHost(Protocol):
    """What the handlers need of the worker service (which creates them)."""

    owner: str
    pool: EndpointPool | None

    def wake(self) -> None: ...


class ControlHandlers:
    def __init__(self, service: PoolHost) -> None:
        self.service = service
        self._background: set[asyncio.Task] = set()
        self.table: dict[str, Handler] = {
            control.RELOAD: self._reload,
            control.RECONNECT: self._reconnect,
            control.CHECK: self._check,
            control.PROBE: self._probe,
            control.CALL_TOOL: self._call_tool,
        }

    async def handle(self, message: dict) -> dict:
        """The reply to one message: `worker` and `op`, plus the handler's fields or `error`."""
        op = message.get("op")
        reply: dict[str, Any] = {"worker": self.service.owner, "op": op}
        handler = self.table.get(op)
        if handler is None:
            reply["error"] = f"unknown control operation {op!r}"
            return reply
        try:
            reply.update(await handler(message))
        except Exception as exc:
            logger.exception("endpoint pool control %s failed", op)
            reply["error"] = mask_text(f"{type(exc).__name__}: {exc}")
        return reply

    def _targets_other_worker(self, message: dict) -> bool:
        # Probes and test calls run on ONE worker; the others answer "skipped".
        target = message.get("worker")
        return target is not None and target != self.service.owner

    # --- the handlers ---------------------------------------------------------
    async def _reload(self, message: dict) -> dict:
        self.service.wake()
        return {}

    async def _reconnect(self, message: dict) -> dict:
        pool = self.service.pool
        endpoint_id = message.get("endpoint_id")
        if endpoint_id not in pool.endpoint_ids():
            return {"done": False}
        await pool.reconnect(endpoint_id)
        return {"done": True}

    async def _check(self, message: dict) -> dict:
        pool = self.service.pool
        endpoint_id = message.get("endpoint_id")
        if endpoint_id is not None and endpoint_id not in pool.endpoint_ids():
            return {"results": {}}
        outcomes = await pool.check(endpoint_id)
        # results: id -> RTT (None: failed); failures: id -> why, for the failed ones.
        return {
            "results": {
                str(pk): o.rtt_ms if o.failure is None else None for pk, o in outcomes.items()
            },
            "failures": {
                str(pk): {"reason": o.failure, "detail": o.detail, "state": o.state}
                for pk, o in outcomes.items()
                if o.failure is not None
            },
        }

    async def _probe(self, message: dict) -> dict:
        if self._targets_other_worker(message):
            return {"skipped": True}
        try:
            result = await self.service.pool.request(
                message.get("method") or "ping",
                message.get("params") or {},
                timeout=message.get("timeout"),
            )
        except NoHealthyEndpoint as exc:
            return {
                "error": mask_text(str(exc)) or "no healthy endpoint",
                "attempts": _attempts(exc.attempts),
            }
        return {
            "endpointId": result.endpoint_id,
            "result": result.result,
            "rpcError": result.error,
            "rttMs": result.rtt_ms,
            "attempts": _attempts(result.attempts),
        }

    async def _call_tool(self, message: dict) -> dict:
        """A test call (admin, REST, command), answered as an endpoint's tools/call is."""
        if self._targets_other_worker(message):
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
                response = await self.service.pool.serve(request)
        except TimeoutError:
            response = error_response(0, TOOL_TIMEOUT, f"no answer within {float(timeout):g} s")
        return {"response": response, "durationMs": (time.perf_counter() - started) * 1000}

    # --- Redis delivery ----------------------------------------------------------
    async def subscribe(self) -> None:
        """Listen on the control channel; a Redis outage is retried, never fatal to the pool."""
        try:
            while True:
                client = aioredis.from_url(settings.REDIS_URL)
                pubsub = client.pubsub()
                try:
                    await pubsub.subscribe(control.control_channel())
                    self.service.wake()  # messages may have been missed while away
                    while True:
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=1.0
                        )
                        if message is not None:
                            self._spawn(self._answer(client, message["data"]))
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    logger.warning(
                        "endpoint pool control channel: %s; retrying", mask_text(str(exc))
                    )
                    await asyncio.sleep(1.0)
                finally:
                    await _close(pubsub, client)
        finally:
            for task in self._background:
                task.cancel()
            await asyncio.gather(*self._background, return_exceptions=True)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _answer(self, client: aioredis.Redis, raw: bytes) -> None:
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


async def _close(pubsub: aioredis.client.PubSub, client: aioredis.Redis) -> None:
    # Bounded: a close can wait on a connection that a cancelled read left behind
    # (redis-py #3941), and a stopping worker must never hang here.
    with contextlib.suppress(Exception):
        async with asyncio.timeout(CLOSE_TIMEOUT):
            await pubsub.aclose()
            await client.aclose()


def _attempts(attempts: list[tuple[int, str]]) -> list[dict]:
    return [{"endpointId": pk, "error": mask_text(error)} for pk, error in attempts]
