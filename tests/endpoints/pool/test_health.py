import pytest

from endpoints.pool.health import HealthTracker, health_score, percentile


def test_score_formula():
    assert health_score([]) == 100.0
    assert health_score([10.0] * 20) == 100.0
    # all failed: 100 * 0.7 * (0 + 3) / (20 + 3), no latency credit
    assert health_score([None] * 20) == 9.1
    # 3 failures in 20, fast link: 100 * (0.7 * (17 + 3) / (20 + 3) + 0.3 * 1)
    assert health_score([None] * 3 + [50.0] * 17) == 90.9
    assert health_score([5.0, None, 5.0]) == 88.3  # one early miss does not sink it
    # no failures, mean RTT 1100 ms: latency factor 0.5
    assert health_score([1100.0] * 5) == 85.0
    assert health_score([5000.0]) == 70.0


def test_p95_and_bounded_history():
    tracker = HealthTracker()
    for rtt in range(1, 101):
        tracker.record_success(float(rtt))
    assert len(tracker.rtt_history) == 30  # bounded, oldest dropped
    assert tracker.rtt_history[-1] == 100.0
    assert tracker.rtt_p95_ms == 99.0
    assert percentile([], 0.95) is None
    assert percentile([5.0], 0.95) == 5.0


def test_degraded_when_failing_or_slow():
    tracker = HealthTracker()
    tracker.record_success(5.0)
    assert not tracker.degraded
    tracker.record_failure()
    assert tracker.degraded and tracker.consecutive_failures == 1
    tracker.record_success(5.0)
    assert not tracker.degraded and tracker.score == pytest.approx(100 * (0.7 * 5 / 6 + 0.3), 0.01)
    for _ in range(6):
        tracker.record_failure()
    assert tracker.degraded and tracker.score < 80
    slow = HealthTracker()
    for _ in range(5):
        slow.record_success(1500.0)
    assert slow.degraded
