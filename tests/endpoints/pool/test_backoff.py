import random

import pytest

from endpoints.pool.backoff import (
    JITTER,
    attempts_exhausted,
    base_delay,
    failure_rate,
    reconnect_delay,
)
from endpoints.pool.config import RECONNECT_STRATEGIES, ConnectionOptions


def options(strategy: str, **kwargs) -> ConnectionOptions:
    defaults = dict(reconnect_interval=1.0, max_reconnect_delay=1000.0, jitter=False)
    return ConnectionOptions(reconnect_strategy=strategy, **{**defaults, **kwargs})


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("exponential-backoff", [1, 2, 4, 8, 16]),
        ("linear-backoff", [1, 2, 3, 4, 5]),
        ("fixed-interval", [1, 1, 1, 1, 1]),
        ("adaptive", [1, 2, 4, 8, 16]),  # every recent connection failed: exponential
    ],
)
def test_delays_without_jitter(strategy, expected):
    opts = options(strategy)
    assert [reconnect_delay(opts, n, failure_rate=1.0) for n in range(1, 6)] == expected


def test_adaptive_follows_the_recent_failure_rate():
    opts = options("adaptive", reconnect_interval=2.0)
    stable = [reconnect_delay(opts, n, failure_rate=0.0) for n in range(1, 5)]
    half = [reconnect_delay(opts, n, failure_rate=0.5) for n in range(1, 5)]
    assert stable == [2, 2, 2, 2]  # a usually-stable endpoint retries at the base
    assert half == [2, 3, 5, 9]  # 2 * (1 + 0.5 * (2**(n-1) - 1))
    rate_after_stable_runs = failure_rate([False, False, True, True, True, True])
    assert rate_after_stable_runs == pytest.approx(2 / 6)
    assert failure_rate([]) == 1.0
    assert failure_rate([False] * 3 + [True] * 10) == 0.0  # only the last 10 count


@pytest.mark.parametrize("strategy", RECONNECT_STRATEGIES)
def test_jitter_stays_within_its_bounds(strategy):
    rng = random.Random(7)
    opts = options(strategy, jitter=True, reconnect_interval=3.0)
    for attempt in range(1, 6):
        base = base_delay(strategy, attempt, 3.0, 1.0)
        delays = [reconnect_delay(opts, attempt, rng=rng) for _ in range(300)]
        assert min(delays) >= base * (1 - JITTER)
        assert max(delays) <= base * (1 + JITTER)
        assert max(delays) - min(delays) > base * JITTER  # it really varies


@pytest.mark.parametrize("strategy", RECONNECT_STRATEGIES)
def test_cap_holds_with_jitter_and_huge_attempts(strategy):
    rng = random.Random(1)
    opts = options(strategy, jitter=True, reconnect_interval=5.0, max_reconnect_delay=30.0)
    for attempt in (10, 100, 5000):
        delays = [reconnect_delay(opts, attempt, rng=rng) for _ in range(50)]
        assert max(delays) <= 30.0
    assert reconnect_delay(opts, 10_000, rng=rng) <= 30.0  # no OverflowError


def test_max_attempts():
    opts = ConnectionOptions(max_reconnect_attempts=3)
    assert [attempts_exhausted(opts, n) for n in (1, 2, 3, 4)] == [False, False, True, True]
    forever = ConnectionOptions(max_reconnect_attempts=0)
    assert not attempts_exhausted(forever, 10**6)


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="unknown reconnect strategy"):
        ConnectionOptions(reconnect_strategy="sometimes")
    with pytest.raises(ValueError, match="health_check_interval"):
        ConnectionOptions(health_check_interval=0)
    with pytest.raises(ValueError, match="attempt is 1-based"):
        base_delay("fixed-interval", 0, 1.0)
