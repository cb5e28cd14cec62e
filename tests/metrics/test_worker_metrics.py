"""The pool worker's instruments fed with the statuses and calls the pool reports: each
answered request one RTT sample, each reconnect once, series that follow a rename and
leave with the endpoint, bounded tool labels."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry

from endpoints.pool.status import EndpointStatus
from endpoints.upstreams.records import CallRecord, ServerStatus
from endpoints.worker.metrics import WorkerMetrics

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class FakePool:
    def __init__(self, *ids: int) -> None:
        self.ids = set(ids)

    def endpoint_ids(self) -> set[int]:
        return set(self.ids)


class Service:
    def __init__(self, pool: FakePool) -> None:
        self.pool = pool


def status(endpoint_id=1, name="desk", **fields) -> EndpointStatus:
    return EndpointStatus(endpoint_id=endpoint_id, name=name, url="wss://x/?token=t", **fields)


def sample(registry, name: str, **labels) -> float | None:
    return registry.get_sample_value(name, labels)


def setup(*held: int):
    registry = CollectorRegistry(auto_describe=True)
    pool = FakePool(*held)
    service = Service(pool)  # kept alive: the metrics hold it weakly
    metrics = WorkerMetrics(registry).attach(service)
    return registry, metrics, pool, service


def test_each_answered_request_is_one_rtt_sample_and_each_reconnect_counts_once():
    registry, metrics, _pool, _service = setup(1)
    labels = {"endpoint": "desk", "endpoint_id": "1"}
    metrics.on_status(status(state="connecting"))
    metrics.on_status(status(state="connected", connected=True, successful_requests=1, rtt_ms=20))
    metrics.on_status(status(state="connected", connected=True, successful_requests=1, rtt_ms=20))
    metrics.on_status(status(state="degraded", connected=True, successful_requests=2, rtt_ms=400))
    assert sample(registry, "xiaozhi_hub_endpoint_rtt_seconds_count", **labels) == 2
    assert sample(registry, "xiaozhi_hub_endpoint_rtt_seconds_sum", **labels) == pytest.approx(0.42)
    assert sample(registry, "xiaozhi_hub_endpoint_rtt_seconds_bucket", le="0.025", **labels) == 1

    first = {"at": T0, "error_class": "network", "error": "x", "delay": 1.0}
    second = {"at": T0 + timedelta(seconds=5), "error_class": "network", "error": "x", "delay": 2}
    metrics.on_status(status(state="backoff", reconnect_history=[first]))
    metrics.on_status(status(state="backoff", reconnect_history=[first]))  # the same loss
    metrics.on_status(status(state="backoff", reconnect_history=[first, second]))
    assert sample(registry, "xiaozhi_hub_endpoint_reconnects_total", **labels) == 2

    assert sample(registry, "xiaozhi_hub_endpoint_state", state="backoff", **labels) == 1
    assert sample(registry, "xiaozhi_hub_endpoint_state", state="connected", **labels) == 0
    assert sample(registry, "xiaozhi_hub_endpoint_connected", **labels) == 0


def test_a_rename_moves_the_series_and_an_endpoint_that_leaves_takes_its_series():
    registry, metrics, pool, _service = setup(1, 2)
    metrics.on_status(status(successful_requests=1, rtt_ms=10, connected=True, state="connected"))
    metrics.on_status(status(endpoint_id=2, name="hall", successful_requests=1, rtt_ms=10))
    metrics.on_status(status(name="study", successful_requests=1, rtt_ms=10, connected=True))
    old = {"endpoint": "desk", "endpoint_id": "1"}
    new = {"endpoint": "study", "endpoint_id": "1"}
    list(registry.collect())
    assert sample(registry, "xiaozhi_hub_endpoint_rtt_seconds_count", **old) is None
    assert sample(registry, "xiaozhi_hub_endpoint_rtt_seconds_count", **new) == 0  # no new ping
    assert sample(registry, "xiaozhi_hub_endpoint_connected", **old) is None
    assert sample(registry, "xiaozhi_hub_endpoint_connected", **new) == 1

    pool.ids.discard(2)  # taken by another worker, or deleted
    hall = {"endpoint": "hall", "endpoint_id": "2"}
    assert sample(registry, "xiaozhi_hub_endpoint_connected", **hall) is None
    assert sample(registry, "xiaozhi_hub_endpoint_rtt_seconds_count", **hall) is None
    assert sample(registry, "xiaozhi_hub_endpoint_state", state="connecting", **hall) is None


def call(tool: str, server_id: int | None, outcome: str, ms: float = 30) -> CallRecord:
    return CallRecord(
        tool=tool,
        server_id=server_id,
        upstream_tool=None,
        endpoint_id=1,
        started_at=T0,
        duration_ms=ms,
        outcome=outcome,
    )


def test_tool_calls_by_server_tool_and_outcome_with_bounded_names():
    registry, metrics, _pool, _service = setup()
    metrics.on_server_status(ServerStatus(server_id=7, name="calc", state="ready", replicas=()))
    metrics.on_call(call("calc__add", 7, "ok", ms=30))
    metrics.on_call(call("calc__add", 7, "timeout", ms=5000))
    metrics.on_call(call("hub__echo", None, "ok"))
    for invented in ("a__1", "b__2", "c__3"):  # a peer inventing names gets one series
        metrics.on_call(call(invented, None, "not_found"))
    calls = "xiaozhi_hub_tool_calls_total"
    assert sample(registry, calls, server="calc", tool="calc__add", outcome="ok") == 1
    assert sample(registry, calls, server="calc", tool="calc__add", outcome="timeout") == 1
    assert sample(registry, calls, server="hub", tool="hub__echo", outcome="ok") == 1
    assert sample(registry, calls, server="", tool="unknown", outcome="not_found") == 3
    assert sample(registry, calls, server="", tool="a__1", outcome="not_found") is None
    duration = "xiaozhi_hub_tool_call_duration_seconds"
    assert sample(registry, f"{duration}_count", server="calc", tool="calc__add") == 2
    assert sample(registry, f"{duration}_sum", server="calc", tool="calc__add") == pytest.approx(
        5.03
    )
