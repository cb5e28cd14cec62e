"""Publishing to Redis and merging: one family per metric, a `worker` label per process,
and a process that stops publishing leaves after the TTL."""

from __future__ import annotations

import time

import pytest
import redis
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from tests.metrics.scrape import parse, values
from tests.services import REDIS_URL
from xiaozhi_hub.metrics.merge import MergedMetrics, read_snapshots
from xiaozhi_hub.metrics.process import process_name
from xiaozhi_hub.metrics.publisher import Publisher, index_key, snapshot_key

pytestmark = pytest.mark.requires_services("redis")


def process_numbers(calls: int) -> CollectorRegistry:
    registry = CollectorRegistry()
    Counter("demo_calls_total", "Calls.", ["tool"], registry=registry).labels("echo").inc(calls)
    Histogram("demo_rtt_seconds", "RTT.", registry=registry, buckets=(0.1, 1)).observe(0.5)
    return registry


@pytest.fixture
def client():
    client = redis.Redis.from_url(REDIS_URL)
    client.delete(index_key())
    yield client
    client.delete(index_key())


def published(client) -> list:
    """The snapshots of this test's publishers (this test process may publish its own)."""
    return read_snapshots(client, exclude=process_name())


def publisher(registry: CollectorRegistry, name: str, interval: float = 1) -> Publisher:
    return Publisher(registry, name, url=REDIS_URL, interval=interval)


def test_two_processes_merge_into_one_family_each_with_two_worker_values(client):
    publisher(process_numbers(3), "host:101").publish()
    publisher(process_numbers(5), "host:102").publish()
    merged = MergedMetrics()
    snapshots = published(client)
    assert {s.worker for s in snapshots} == {"host:101", "host:102"}
    for snapshot in snapshots:
        merged.add_snapshot(snapshot)
    merged.add_ages(snapshots)
    text = generate_latest(merged).decode()
    families = parse(text)  # fails on a second HELP/TYPE line for one name
    assert text.count("# TYPE demo_calls_total counter") == 1
    assert sorted(values(families, "demo_calls_total", tool="echo")) == [3.0, 5.0]
    assert values(families, "demo_calls_total", worker="host:102") == [5.0]
    assert values(families, "demo_rtt_seconds_count", worker="host:101") == [1.0]
    assert {s.labels["worker"] for s in families["demo_rtt_seconds"].samples} == {
        "host:101",
        "host:102",
    }
    ages = values(families, "xiaozhi_hub_metrics_snapshot_age_seconds")
    assert len(ages) == 2 and all(0 <= age < 5 for age in ages)


def test_the_answering_process_is_read_fresh_not_from_redis(client):
    publisher(process_numbers(1), "host:201").publish()
    publisher(process_numbers(1), "host:202").publish()
    names = {s.worker for s in read_snapshots(client, exclude="host:201")}
    assert "host:202" in names and "host:201" not in names


def test_a_family_of_another_type_elsewhere_is_skipped_not_emitted_twice():
    first, second = CollectorRegistry(), CollectorRegistry()
    Counter("demo_x_total", "X.", registry=first).inc()
    Gauge("demo_x_total", "X.", registry=second).set(7)
    merged = MergedMetrics()
    merged.add(first.collect(), worker="a")
    merged.add(second.collect(), worker="b")
    families = parse(generate_latest(merged).decode())
    assert families["demo_x"].type == "counter"
    assert values(families, "demo_x_total") == [1.0]


def test_a_process_that_stops_publishing_vanishes_after_the_ttl(client):
    dead = publisher(process_numbers(1), "host:301", interval=1)  # TTL: 3 intervals
    dead.publish()
    assert client.ttl(snapshot_key("host:301")) in (2, 3)
    assert [s.worker for s in published(client)] == ["host:301"]
    time.sleep(3.2)
    assert published(client) == []
    assert client.zscore(index_key(), "host:301") is None  # the index forgets it too


def test_a_stopping_process_deletes_its_numbers_at_once(client):
    running = publisher(process_numbers(1), "host:401", interval=0.2)
    running.start()
    deadline = time.monotonic() + 5
    while not published(client) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [s.worker for s in published(client)] == ["host:401"]
    running.stop()
    assert published(client) == []
    assert client.exists(snapshot_key("host:401")) == 0
