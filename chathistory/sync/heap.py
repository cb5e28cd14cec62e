"""The cyclic garbage collector, kept off the copy's hot path.

A batch holds tens of thousands of new container objects (rows, parsed
contents) until it commits. CPython's collector counts allocations: it ran a
young collection every 700 of them, promoted the batch's objects, and every
few batches ran a full collection over the whole heap (all of Django, the app,
the worker): in a million-row backfill, about a third of the client's CPU.

During a copy the objects that existed before it are frozen (`gc.freeze`: no
pass looks at them) and the automatic collector is off; `collect_young()`,
called once per batch, collects what the batches allocated, each object looked
at about once. The garbage of a batch is mostly freed by reference counting
anyway; the young collection frees its cycles, so memory stays flat. When the
copy ends, everything is unfrozen and the collector runs as before.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()
        if enabled:
            gc.enable()


def collect_young() -> None:
    """Cyclic garbage allocated since the last call (this thread's and the others')."""
    gc.collect(0)
