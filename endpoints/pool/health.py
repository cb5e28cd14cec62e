"""Health of one endpoint, measured by the hub's own MCP pings.

Score (0-100), over a sliding window of the last WINDOW probe outcomes (health
pings and hub-originated requests: answered, or timed out on a live
connection; a request cut short by a lost connection is no sample, the loss is
the reconnect logic's business). The window spans reconnections. A new
connection is pinged within a second of initialize, then every health-check
interval.

    success_rate    = (successes + PRIOR) / (outcomes + PRIOR)
                      PRIOR = 3 assumed successes, so that one lost ping among
                      the first few does not sink a new endpoint's score
    latency_factor  = 1                               if mean_rtt <= GOOD_RTT_MS
                    = 0                               if mean_rtt >= BAD_RTT_MS
                    = (BAD - mean_rtt) / (BAD - GOOD) otherwise (linear)
                      (mean_rtt over the successful outcomes in the window;
                       1 when there is none yet, 0 when all of them failed)
    score           = 100 * (SUCCESS_WEIGHT * success_rate + LATENCY_WEIGHT * latency_factor)

with WINDOW = 20, GOOD_RTT_MS = 200, BAD_RTT_MS = 2000, PRIOR = 3
SUCCESS_WEIGHT = 0.7,
LATENCY_WEIGHT = 0.3, rounded to one decimal. An empty window scores 100; a
disconnected endpoint reports 0.

A connected endpoint is `degraded` when its last probe failed
(consecutive_failures > 0) or its score is below DEGRADED_BELOW (80). With no
failures that means a mean RTT above 1400 ms; on a fast link it takes 7 failed
probes in a full window of 20 (score 78.7). 3 failures in 20 score 90.9;
20 failures 9.1; one failure right after connecting (1 of 3) 88.3.
"""

from __future__ import annotations

import math
from collections import deque

WINDOW = 20
GOOD_RTT_MS = 200.0
BAD_RTT_MS = 2000.0
PRIOR = 3
SUCCESS_WEIGHT = 0.7
LATENCY_WEIGHT = 0.3
DEGRADED_BELOW = 80.0
RTT_HISTORY = 30  # RTTs kept for the status' sparkline and p95


def health_score(outcomes: list[float | None]) -> float:
    """The score of a window of outcomes: an RTT in ms for a success, None for a failure."""
    if not outcomes:
        return 100.0
    rtts = [rtt for rtt in outcomes if rtt is not None]
    success_rate = (len(rtts) + PRIOR) / (len(outcomes) + PRIOR)
    if rtts:
        mean_rtt = sum(rtts) / len(rtts)
        latency = (BAD_RTT_MS - mean_rtt) / (BAD_RTT_MS - GOOD_RTT_MS)
        latency_factor = min(1.0, max(0.0, latency))
    else:
        latency_factor = 0.0  # every probe in the window failed
    return round(100.0 * (SUCCESS_WEIGHT * success_rate + LATENCY_WEIGHT * latency_factor), 1)


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile (fraction 0.95 → p95); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


class HealthTracker:
    """Sliding window of outcomes plus the bounded RTT history of one endpoint."""

    __slots__ = ("_outcomes", "_rtts", "consecutive_failures", "last_rtt_ms", "score")

    def __init__(self) -> None:
        self._outcomes: deque[float | None] = deque(maxlen=WINDOW)
        self._rtts: deque[float] = deque(maxlen=RTT_HISTORY)
        self.consecutive_failures = 0
        self.last_rtt_ms: float | None = None
        self.score = health_score([])

    def record_success(self, rtt_ms: float) -> None:
        rtt_ms = round(rtt_ms, 2)
        self._outcomes.append(rtt_ms)
        self._rtts.append(rtt_ms)
        self.last_rtt_ms = rtt_ms
        self.consecutive_failures = 0
        self.score = health_score(list(self._outcomes))

    def record_failure(self) -> None:
        self._outcomes.append(None)
        self.consecutive_failures += 1
        self.score = health_score(list(self._outcomes))

    def reset_streak(self) -> None:
        """A new connection starts without the old one's failure streak (history stays)."""
        self.consecutive_failures = 0

    @property
    def rtt_p95_ms(self) -> float | None:
        return percentile(list(self._rtts), 0.95)

    @property
    def rtt_history(self) -> list[float]:
        return list(self._rtts)

    @property
    def degraded(self) -> bool:
        return self.consecutive_failures > 0 or self.score < DEGRADED_BELOW
