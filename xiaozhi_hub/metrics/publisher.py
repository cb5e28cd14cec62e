"""A process's numbers, published to Redis for the web process that answers `/metrics`.

A daemon thread writes the registry's samples (compact JSON, zlib-compressed) to
`<HUB_CHANNEL_PREFIX>:metrics:<process name>` every `interval` seconds, with a
TTL of SNAPSHOT_TTL_INTERVALS intervals, and notes the name, scored by the
publishing time, in the sorted set `<HUB_CHANNEL_PREFIX>:metrics`. A process
that dies stops refreshing its key, so its numbers vanish when it expires; one
that exits normally deletes it at once.

JSON rather than the exposition text: at a thousand endpoints (some 25,000
samples) Prometheus's text parser takes the reader most of a second a worker,
`json.loads` a few hundredths; the writer is faster too.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import time
import zlib
from collections.abc import Iterable

import redis
from django.conf import settings
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

from xiaozhi_hub.masking import mask_text

logger = logging.getLogger(__name__)

SNAPSHOT_TTL_INTERVALS = 3  # a snapshot outlives two missed publishes, not a third


def index_key() -> str:
    return f"{settings.REDIS_KEY_PREFIX}:metrics"


def snapshot_key(name: str) -> str:
    return f"{index_key()}:{name}"


def snapshot_ttl(interval: float) -> int:
    return max(1, round(SNAPSHOT_TTL_INTERVALS * interval))


def encode(families: Iterable[Metric]) -> bytes:
    """[[name, help, type, unit, [[sample name, labels, value], ...]], ...], compressed."""
    data = [
        [f.name, f.documentation, f.type, f.unit, [[s.name, s.labels, s.value] for s in f.samples]]
        for f in families
    ]
    # Level 1: most of the saving for little CPU.
    return zlib.compress(json.dumps(data, separators=(",", ":")).encode(), 1)


def decode(payload: bytes) -> list[Metric]:
    families = []
    for name, documentation, kind, unit, samples in json.loads(zlib.decompress(payload)):
        family = Metric(name, documentation, kind, unit)
        family.samples = [Sample(sample, labels, value) for sample, labels, value in samples]
        families.append(family)
    return families


class Publisher:
    def __init__(
        self, registry: CollectorRegistry, name: str, *, url: str, interval: float
    ) -> None:
        self.registry = registry
        self.name = name
        self.interval = float(interval)
        self.ttl = snapshot_ttl(self.interval)
        self.key = snapshot_key(name)
        self.index = index_key()
        self.client = redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3)
        self._pid = os.getpid()
        self._stop = threading.Event()
        self._failing = False
        self._thread = threading.Thread(target=self._run, name="hub-metrics-publisher", daemon=True)

    def start(self) -> None:
        self._thread.start()
        atexit.register(self.stop)

    def publish(self) -> None:
        payload = encode(self.registry.collect())
        pipe = self.client.pipeline(transaction=False)
        pipe.set(self.key, payload, ex=self.ttl)
        pipe.zadd(self.index, {self.name: time.time()})
        pipe.execute()

    def _run(self) -> None:
        while True:
            try:
                self.publish()
            except Exception as exc:  # Redis away: keep trying, say so once per outage
                if not self._failing:
                    logger.warning("could not publish metrics to Redis: %s", mask_text(str(exc)))
                self._failing = True
            else:
                if self._failing:
                    logger.info("publishing metrics to Redis again")
                self._failing = False
            if self._stop.wait(self.interval):
                return

    def stop(self) -> None:
        """Stop publishing and delete the snapshot (an exiting process's numbers go at once)."""
        if os.getpid() != self._pid:  # atexit handlers are inherited by forked children
            return
        self._stop.set()
        self._thread.join(timeout=self.interval + 5)
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.delete(self.key)
            pipe.zrem(self.index, self.name)
            pipe.execute()
        except Exception as exc:
            logger.warning("could not remove published metrics: %s", mask_text(str(exc)))
