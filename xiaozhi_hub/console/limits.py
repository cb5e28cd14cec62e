"""Console limits: a per-connection token bucket and the open-connection registry.

The registry counts console connections (WebSocket and SSE) in a Redis sorted
set shared by every web process when REDIS_URL is set, so
HUB_CONSOLE_MAX_SUBSCRIBERS holds for the whole deployment; each entry expires
unless its connection refreshes it, so a crashed process frees its slots. A
per-process set is kept as well and is the limit when Redis is absent or down.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref

import redis
import redis.asyncio as aioredis
from django.conf import settings

from xiaozhi_hub.masking import mask_text

logger = logging.getLogger(__name__)


class TokenBucket:
    """`rate` tokens per second, at most `burst` saved up; one token per frame."""

    def __init__(self, *, rate: float, burst: int, clock=time.monotonic):
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.clock = clock
        self.updated = clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


# Drop expired entries, then add the member unless the set is full (atomic in Redis).
_CLAIM = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[4]) then return 1 end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""


def _layer_prefix() -> str:
    config = settings.CHANNEL_LAYERS["default"].get("CONFIG", {})
    return config.get("prefix", "xiaozhi-hub")


def registry_key() -> str:
    return f"{_layer_prefix()}:console:connections"


def entry_ttl() -> int:
    """Seconds an entry lives without a refresh (connections refresh every heartbeat)."""
    return max(3 * settings.HUB_CONSOLE_HEARTBEAT_INTERVAL, 10)


class ConnectionRegistry:
    def __init__(self) -> None:
        self.local: set[str] = set()
        # redis.asyncio clients belong to one event loop (tests run many loops).
        self._clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def _redis(self) -> aioredis.Redis | None:
        if not settings.REDIS_URL:
            return None
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = aioredis.Redis.from_url(settings.REDIS_URL, socket_timeout=3)
            self._clients[loop] = client
        return client

    async def claim(self, member: str) -> bool:
        """Count one more open connection; False when the limit is reached."""
        limit = settings.HUB_CONSOLE_MAX_SUBSCRIBERS
        if member not in self.local and len(self.local) >= limit:
            return False
        client = self._redis()
        if client is not None:
            now = time.time()
            ttl = entry_ttl()
            try:
                claimed = await client.eval(
                    _CLAIM, 1, registry_key(), now, now + ttl, limit, member, ttl * 2
                )
            except Exception as exc:  # Redis down: the per-process limit still holds
                logger.warning("console connection registry unavailable: %s", mask_text(str(exc)))
            else:
                if not claimed:
                    return False
        self.local.add(member)
        return True

    async def refresh(self, member: str) -> None:
        client = self._redis()
        if client is None or member not in self.local:
            return
        try:
            await client.zadd(registry_key(), {member: time.time() + entry_ttl()}, xx=True)
        except Exception as exc:
            logger.warning("console connection registry unavailable: %s", mask_text(str(exc)))

    async def release(self, member: str) -> None:
        if member not in self.local:
            return
        self.local.discard(member)
        client = self._redis()
        if client is None:
            return
        try:
            await client.zrem(registry_key(), member)
        except Exception as exc:
            logger.warning("console connection registry unavailable: %s", mask_text(str(exc)))


connections = ConnectionRegistry()


def open_connections() -> int:
    """Console connections open now: across the web processes (Redis), else this one's.

    For /metrics, which runs in a worker thread of any web process: a plain Redis client.
    """
    if not settings.REDIS_URL:
        return len(connections.local)
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=3)
    try:
        return client.zcount(registry_key(), time.time(), "+inf")
    finally:
        client.close()
