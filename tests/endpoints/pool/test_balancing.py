import random
from dataclasses import dataclass

import pytest

from endpoints.pool.balancing import Balancer


@dataclass
class Fake:
    endpoint_id: int
    score: float = 100.0
    degraded: bool = False


def chosen(balancer, candidates, n):
    return [balancer.order(candidates)[0].endpoint_id for _ in range(n)]


def test_round_robin_rotates_and_keeps_degraded_last():
    candidates = [Fake(3), Fake(1), Fake(2), Fake(4, score=60, degraded=True)]
    balancer = Balancer("round-robin")
    assert chosen(balancer, candidates, 6) == [1, 2, 3, 1, 2, 3]
    order = [c.endpoint_id for c in balancer.order(candidates)]
    assert sorted(order[:3]) == [1, 2, 3] and order[3] == 4  # full failover sequence


def test_random_uses_every_healthy_endpoint():
    balancer = Balancer("random", random.Random(3))
    candidates = [Fake(1), Fake(2), Fake(3), Fake(9, degraded=True)]
    picks = chosen(balancer, candidates, 300)
    assert set(picks) == {1, 2, 3}
    assert all(60 < picks.count(i) < 140 for i in (1, 2, 3))
    assert balancer.order(candidates)[-1].endpoint_id == 9


def test_health_based_prefers_the_best_score_and_rotates_ties():
    balancer = Balancer("health-based")
    candidates = [Fake(1, 80.0), Fake(2, 99.0), Fake(3, 99.0), Fake(4, 40.0)]
    assert chosen(balancer, candidates, 4) == [2, 3, 2, 3]
    assert [c.endpoint_id for c in balancer.order(candidates)][2:] == [1, 4]


def test_unknown_strategy():
    with pytest.raises(ValueError, match="unknown load-balance strategy"):
        Balancer("fastest")
