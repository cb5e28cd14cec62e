"""Reading the next source batch in a thread while the current one is written."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

from django.db import connections

Batch = TypeVar("Batch")


class ReadAhead(Generic[Batch]):
    """Runs `read(cursor, limit)` for the next batch in a thread of its own.

    The source query and the hub's INSERTs wait on two database servers; the
    thread overlaps them (the drivers release the GIL while they wait). It has
    its own connection to the source `alias`, closed when the copy ends; its
    errors surface in result(), where a sequential read would have raised them.
    """

    def __init__(self, read: Callable[[int, int], Batch], alias: str):
        self.read = read
        self.alias = alias
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chat-sync-read")
        self.pending: Future[Batch] | None = None

    def __enter__(self) -> ReadAhead[Batch]:
        return self

    def start(self, cursor: int, limit: int) -> None:
        self.pending = self.pool.submit(self.read, cursor, limit)

    def result(self) -> Batch:
        pending, self.pending = self.pending, None
        return pending.result()

    def __exit__(self, *exc_info) -> None:
        if self.pending is not None:
            self.pending.cancel()
        # Django connections are per thread: only the reading thread can close its own.
        self.pool.submit(lambda: connections[self.alias].close()).result()
        self.pool.shutdown()
