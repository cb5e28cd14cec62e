"""Retrying a transaction that lost a lock conflict (InnoDB deadlock or lock wait timeout).

Two writers that lock the same rows can deadlock even when both take their
locks in the same documented order (gap locks of unique checks, foreign-key
checks); InnoDB then rolls one transaction back whole and the work is safe to
do again. `retry_on_lock_conflict` runs such a unit of work again, a bounded
number of times with a short jittered pause, before letting the error through.

The unit must be a whole transaction: retrying inside an outer `atomic` block
would only repeat its tail after the database rolled back the head, so there
the error goes straight to the outermost caller, which may retry the lot.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import DEFAULT_DB_ALIAS, OperationalError, connections

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

# ER_LOCK_DEADLOCK: the whole transaction was rolled back. ER_LOCK_WAIT_TIMEOUT: the
# statement was; Django's atomic rolls the rest back on the way out.
LOCK_CONFLICT_CODES = frozenset({1213, 1205})
ATTEMPTS = 5
FIRST_PAUSE = 0.02  # seconds; the cap doubles with each attempt (full jitter)
MAX_PAUSE = 0.5


def is_lock_conflict(exc: BaseException) -> bool:
    """True for MySQL/MariaDB's deadlock and lock wait timeout errors."""
    return (
        isinstance(exc, OperationalError) and bool(exc.args) and exc.args[0] in LOCK_CONFLICT_CODES
    )


def retry_on_lock_conflict(
    work: Callable[[], T],
    *,
    using: str = DEFAULT_DB_ALIAS,
    attempts: int = ATTEMPTS,
    before_retry: Callable[[], None] | None = None,
    name: str | None = None,
) -> T:
    """`work()`, run again (at most `attempts` times in all) while it fails on a lock conflict.

    `work` opens its own transaction(s) and must be safe to run again after a rollback;
    `before_retry` undoes what it changed outside the database. After the last attempt
    the database's own error is raised. `name` says in the log what was retried.
    """
    if connections[using].in_atomic_block:
        return work()  # only the outermost transaction can be run again
    attempt = 1
    while True:
        try:
            return work()
        except OperationalError as exc:
            if not is_lock_conflict(exc) or attempt >= attempts:
                raise
            pause = random.uniform(0, min(MAX_PAUSE, FIRST_PAUSE * 2 ** (attempt - 1)))
            logger.info(
                "%s: lock conflict (MySQL error %s), retry %d of %d in %.0f ms",
                name or getattr(work, "__qualname__", "transaction"),
                exc.args[0],
                attempt,
                attempts - 1,
                pause * 1000,
            )
        if before_retry is not None:
            before_retry()
        time.sleep(pause)
        attempt += 1


def retries_on_lock_conflict(function: Callable[P, T]) -> Callable[P, T]:
    """Decorator form of retry_on_lock_conflict (default database, default bound)."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        return retry_on_lock_conflict(
            functools.partial(function, *args, **kwargs), name=function.__qualname__
        )

    return wrapper
