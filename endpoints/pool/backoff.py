"""Reconnect delays: pure functions, so every strategy can be checked alone.

For attempt n = 1, 2, ... after a failure, with base = reconnect_interval:

    exponential-backoff  base * 2**(n-1)
    linear-backoff       base * n
    fixed-interval       base
    adaptive             base * (1 + r * (2**(n-1) - 1))
                         r = recent failure rate in [0, 1]: the share of the last
                         ADAPTIVE_WINDOW connections that failed or did not stay
                         up long enough to count as stable. An endpoint whose
                         connections are usually stable (r → 0) retries at the
                         fixed base like a short blip deserves; one that keeps
                         failing (r → 1) backs off exponentially. Each stable
                         connection lowers r, so the delays shrink again.

Jitter (on by default) multiplies the delay by a uniform factor in
[1 - JITTER, 1 + JITTER] = [0.8, 1.2], so endpoints that dropped together do not
redial together. The result is then capped at max_reconnect_delay (the cap
holds with jitter too) and is never negative.

After max_reconnect_attempts consecutive failed attempts the endpoint is
`failed` (0 = retry forever); an operator action or a config change resumes it.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from .config import ConnectionOptions

JITTER = 0.2
ADAPTIVE_WINDOW = 10
_MAX_EXPONENT = 62  # 2**62 * any base is far beyond every cap; avoids OverflowError


def base_delay(strategy: str, attempt: int, interval: float, failure_rate: float = 1.0) -> float:
    """The un-jittered, un-capped delay before attempt `attempt` (1-based)."""
    if attempt < 1:
        raise ValueError("attempt is 1-based")
    growth = 2.0 ** min(attempt - 1, _MAX_EXPONENT)
    if strategy == "exponential-backoff":
        return interval * growth
    if strategy == "linear-backoff":
        return interval * attempt
    if strategy == "fixed-interval":
        return interval
    if strategy == "adaptive":
        rate = min(1.0, max(0.0, failure_rate))
        return interval * (1.0 + rate * (growth - 1.0))
    raise ValueError(f"unknown reconnect strategy {strategy!r}")


def reconnect_delay(
    options: ConnectionOptions,
    attempt: int,
    *,
    failure_rate: float = 1.0,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before attempt `attempt`: strategy, then jitter, then the cap."""
    delay = base_delay(
        options.reconnect_strategy, attempt, options.reconnect_interval, failure_rate
    )
    if options.jitter:
        delay *= (rng or random).uniform(1.0 - JITTER, 1.0 + JITTER)
    return max(0.0, min(delay, options.max_reconnect_delay))


def attempts_exhausted(options: ConnectionOptions, attempts: int) -> bool:
    """True once `attempts` consecutive failures used up the allowed attempts."""
    return options.max_reconnect_attempts > 0 and attempts >= options.max_reconnect_attempts


def failure_rate(outcomes: Iterable[bool]) -> float:
    """Share of failures among recent connection outcomes (True = stable connection)."""
    recent = list(outcomes)[-ADAPTIVE_WINDOW:]
    if not recent:
        return 1.0
    return sum(1 for stable in recent if not stable) / len(recent)
