"""The worker's database threads: all ORM work of the pool runs on one, never on the event loop.

Each thread has its own Django connection (connections are per thread), so a
worker with two (status and the rest; leases) never has one wait for the other.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

from django.db import close_old_connections, connections

CHECK_INTERVAL = 30.0  # seconds between checks of the thread's DB connection

_state = threading.local()


def _in_db_thread(fn: Callable, kwargs: dict) -> Any:
    # Long-lived thread: drop a connection that went stale (server restart,
    # wait_timeout) before it fails a query, and after any error.
    last = getattr(_state, "checked", 0.0)
    if time.monotonic() - last > CHECK_INTERVAL:
        close_old_connections()
        _state.checked = time.monotonic()
    try:
        return fn(**kwargs)
    except Exception:
        for connection in connections.all(initialized_only=True):
            connection.close()
        raise


class DbThread:
    """One thread, so one DB connection, checked and renewed periodically."""

    def __init__(self, name: str = "endpoint-pool-db") -> None:
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=name)

    async def call(self, fn: Callable, /, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(_in_db_thread, fn, kwargs))

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False)
