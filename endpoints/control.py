"""Control messages from web processes (admin, REST, commands) to the pool.

The pool runs in whichever process holds it: Celery workers (production) or
`runhub` (one process). With REDIS_URL set, messages go out on a Redis
pub/sub channel that every pool worker subscribes to; each worker acts on
the endpoints it holds a lease on. Without Redis there is one process, and
the message is handed to the runtime's loop directly; another process (a
management command next to `runhub`) has no way in, and requests from it fail
with PoolUnavailable saying so instead of pretending to be delivered.

Requests that need an answer (check health, probe) carry a `reply_to` Redis
list; every worker that received the message pushes one reply there and the
caller collects as many replies as PUBLISH reported receivers, or stops at
the timeout. Messages that are lost (a worker restarting) do no harm: the
workers also compare the database with what they run every few seconds.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from functools import cache
from typing import Any, Protocol

from django.conf import settings
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)

RELOAD = "reload"  # configuration changed: re-read leases and rows now
RECONNECT = "reconnect"  # {endpoint_id}
CHECK = "check"  # {endpoint_id | None} -> {"results": {id: rtt_ms | None}}
PROBE = "probe"  # {method, params, worker} -> RequestResult as a dict
# {name, arguments, call_timeout, worker} -> {"response": JSON-RPC response, "durationMs"}:
# a test call of an aggregated tool, answered exactly as an endpoint's tools/call would be.
CALL_TOOL = "call_tool"
OPERATIONS = (RELOAD, RECONNECT, CHECK, PROBE, CALL_TOOL)

REPLY_TTL = 60  # seconds a reply list lives if nobody reads it


class PoolUnavailable(RuntimeError):
    """No running pool answered (no worker, or none within the timeout); the message
    says which, for the person who asked."""


def unreachable_reason() -> str:
    """Why a request from this process cannot reach any pool (nothing receives it)."""
    if not uses_redis():
        # One-process mode: the pool lives in the `runhub` process and is bound there
        # alone; the in-memory channel layer has no way in from another process.
        return _(
            "This process cannot reach the endpoint pool: without REDIS_URL the hub runs in "
            "one process (runhub) and only that process reaches its pool. Use the admin or "
            "the console of the running hub, or set REDIS_URL for the hub and this command."
        )
    return _(
        "No endpoint pool worker is running: nothing listens on the control channel "
        "(start a Celery worker, or runhub with REDIS_URL)."
    )


class LocalPool(Protocol):
    """A pool running in this process (one-process mode), bound while it runs."""

    def submit(self, message: dict) -> None: ...

    def call(self, message: dict, *, timeout: float) -> dict: ...


# The worker binds itself when it starts and unbinds when it stops, so the bus
# needs nothing from the worker (it sits below it).
_local_pool: LocalPool | None = None


def bind_local_pool(pool: LocalPool) -> None:
    global _local_pool
    _local_pool = pool


def unbind_local_pool(pool: LocalPool) -> None:
    global _local_pool
    if _local_pool is pool:
        _local_pool = None


def _prefix() -> str:
    layer = settings.CHANNEL_LAYERS["default"].get("CONFIG", {})
    return f"{layer.get('prefix', 'xiaozhi-hub')}:endpoint-pool"


def control_channel() -> str:
    return f"{_prefix()}:control"


@cache
def _redis_client(url: str):
    import redis

    return redis.Redis.from_url(url, socket_timeout=30)


def _redis():
    return _redis_client(settings.REDIS_URL)


def uses_redis() -> bool:
    return bool(settings.REDIS_URL)


def send(op: str, **fields: Any) -> int:
    """Fire and forget; returns how many pool workers received it (0 when none runs)."""
    message = {"op": op, **fields}
    if uses_redis():
        return int(_redis().publish(control_channel(), json.dumps(message)))
    pool = _local_pool
    if pool is None:
        return 0
    pool.submit(message)
    return 1


def request(op: str, *, timeout: float | None = None, **fields: Any) -> list[dict]:
    """Send a message and return every worker's reply; PoolUnavailable when none answers."""
    timeout = timeout if timeout is not None else settings.HUB_POOL_CONTROL_TIMEOUT
    if not uses_redis():
        pool = _local_pool
        if pool is None:
            raise PoolUnavailable(unreachable_reason())
        return [pool.call({"op": op, **fields}, timeout=timeout)]

    client = _redis()
    reply_to = f"{_prefix()}:reply:{uuid.uuid4().hex}"
    message = {"op": op, "reply_to": reply_to, **fields}
    receivers = int(client.publish(control_channel(), json.dumps(message)))
    if receivers == 0:
        raise PoolUnavailable(unreachable_reason())
    replies: list[dict] = []
    deadline = time.monotonic() + timeout
    try:
        while len(replies) < receivers:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            item = client.blpop([reply_to], timeout=max(left, 0.01))
            if item is None:
                break
            replies.append(json.loads(item[1]))
    finally:
        client.delete(reply_to)
    if not replies:
        raise PoolUnavailable(
            _("No endpoint pool worker answered within %(seconds)s s.")
            % {"seconds": f"{timeout:g}"}
        )
    if len(replies) < receivers:
        logger.warning("%d of %d pool workers answered %s", len(replies), receivers, op)
    return replies
