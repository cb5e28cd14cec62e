"""This process's metrics: its registry, its name, and instruments made once per process.

A forked child (a Celery task process) gets a fresh registry rather than a
copy of its parent's numbers, which the parent goes on publishing itself.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from django.conf import settings
from prometheus_client import CollectorRegistry, disable_created_metrics

from . import publisher

# No `*_created` series: merged across processes they are noise Prometheus does not need.
disable_created_metrics()

T = TypeVar("T")

_lock = threading.Lock()
_registry: tuple[int, CollectorRegistry] | None = None  # (pid, registry)


def enabled() -> bool:
    return settings.HUB_METRICS_ENABLED


def process_name() -> str:
    """The `worker` label of this process's numbers: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def current_registry() -> CollectorRegistry | None:
    """This process's registry if anything made one, without making it."""
    current = _registry
    return current[1] if current is not None and current[0] == os.getpid() else None


def process_registry() -> CollectorRegistry:
    """This process's registry; the first call in a process starts publishing it to
    Redis (when REDIS_URL is set)."""
    global _registry
    pid = os.getpid()
    with _lock:
        if _registry is None or _registry[0] != pid:
            registry = CollectorRegistry(auto_describe=True)
            _registry = (pid, registry)
            if settings.REDIS_URL:
                publisher.Publisher(
                    registry,
                    process_name(),
                    url=settings.REDIS_URL,
                    interval=settings.HUB_METRICS_PUBLISH_INTERVAL,
                ).start()
        return _registry[1]


class PerProcess(Generic[T]):
    """`factory(registry)` run once per process, on first use; None with metrics off."""

    def __init__(self, factory: Callable[[CollectorRegistry], T]) -> None:
        self._factory = factory
        self._made: tuple[int, T] | None = None
        self._lock = threading.Lock()

    def get(self) -> T | None:
        if not enabled():
            return None
        made, pid = self._made, os.getpid()
        if made is not None and made[0] == pid:
            return made[1]
        with self._lock:
            if self._made is None or self._made[0] != pid:
                self._made = (pid, self._factory(process_registry()))
            return self._made[1]
