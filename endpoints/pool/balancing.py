"""The order in which hub-originated requests try the ready endpoints.

round-robin   rotate through the endpoints, one step per request
random        a uniformly random order
health-based  highest health score first; equal scores take turns (round-robin)

Under round-robin and random, endpoints in state `connected` come before
`degraded` ones, which are only tried when the healthy ones fail. The rest of
the order is the failover sequence.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from typing import Protocol

from .config import LOAD_BALANCE_STRATEGIES


class Candidate(Protocol):
    @property
    def endpoint_id(self) -> int: ...

    @property
    def score(self) -> float: ...

    @property
    def degraded(self) -> bool: ...


def _rotate(items: list, step: int) -> list:
    if not items:
        return items
    k = step % len(items)
    return items[k:] + items[:k]


class Balancer:
    def __init__(self, strategy: str = "round-robin", rng: random.Random | None = None) -> None:
        self.strategy = self.check(strategy)
        self._rng = rng or random.Random()
        self._turn = 0

    @staticmethod
    def check(strategy: str) -> str:
        if strategy not in LOAD_BALANCE_STRATEGIES:
            raise ValueError(
                f"unknown load-balance strategy {strategy!r}; "
                f"expected one of {', '.join(LOAD_BALANCE_STRATEGIES)}"
            )
        return strategy

    def order(self, candidates: Sequence[Candidate]) -> list[Candidate]:
        """Try order for one request (first = chosen, the rest = failover)."""
        turn = self._turn
        self._turn += 1
        by_id = sorted(candidates, key=lambda c: c.endpoint_id)
        if self.strategy == "health-based":
            ranked = sorted(by_id, key=lambda c: -c.score)
            groups = itertools.groupby(ranked, key=lambda c: c.score)
            return [c for _score, group in groups for c in _rotate(list(group), turn)]
        healthy = [c for c in by_id if not c.degraded]
        degraded = [c for c in by_id if c.degraded]
        if self.strategy == "random":
            self._rng.shuffle(healthy)
            self._rng.shuffle(degraded)
            return healthy + degraded
        return _rotate(healthy, turn) + _rotate(degraded, turn)
