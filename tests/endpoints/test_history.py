"""Health history (docs/endpoint-pool.md, "Health history"): a real pool's status
callbacks against a loopback peer that fails pings and refuses connections on demand
give exact bucket contents and uptime; disconnected time counts as down; the worker
writes the rows and broadcasts `health_bucket`; retention prunes exactly the old rows;
the REST shapes and the 400 for an unknown range."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from endpoints.models import Endpoint, EndpointHealthBucket, McpServer, McpServerHealthBucket
from endpoints.pool import BuiltinToolRegistry, ConnectionOptions, EndpointConfig, EndpointPool
from endpoints.selectors.history import endpoint_history, rtt_percentile
from endpoints.services.history import health_buckets_store, health_history_prune
from endpoints.upstreams.records import ServerStatus
from endpoints.worker.history import HealthHistory
from tests.endpoints.conftest import open_to, secret_token, wait_until
from tests.endpoints.peers import XiaozhiPeer, answer_pings
from xiaozhi_hub.broadcast import HEALTH, group_name
from xiaozhi_hub.history import RANGES

# The start of the next hour: the stores' own retention pass (by the real clock) keeps it.
T0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
FAST = ConnectionOptions(
    health_check_interval=1.0,  # pings time out after 0.45 s
    reconnect_interval=0.05,
    max_reconnect_delay=0.1,
    max_reconnect_attempts=0,
    connection_timeout=1.0,
    jitter=False,
)


class Clock:
    """The aggregator's wall clock, moved by the test (the pool runs in real time)."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at.timestamp()

    def set(self, *, seconds: float) -> None:
        self.at = T0 + timedelta(seconds=seconds)


async def silent(connection, message):  # a peer that reads the hub's pings, answers none
    return None


async def wait_for(predicate, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def scripted_run(endpoint_id: int) -> tuple[list, EndpointPool]:
    """10:00:00 connected; 4 pings ok and 1 failed; 10:00:45 the peer drops the
    connection and refuses new ones until 10:01:15; connected again until 10:01:30,
    when the endpoint leaves the pool. The batches the aggregator hands over."""
    clock = Clock(T0)
    history = HealthHistory(clock=clock)

    async def on_status(status, state_changed):
        history.observe_endpoint(status)

    batches = []
    async with XiaozhiPeer("idle") as peer:
        pool = EndpointPool(registry=BuiltinToolRegistry(), on_status=on_status)
        config = EndpointConfig(
            id=endpoint_id, name="ep", url=peer.url(), options=FAST, health_check_enabled=False
        )
        await pool.apply([config])
        await wait_for(lambda: pool.status(endpoint_id).initialized)
        for _ in range(3):
            assert (await pool.check_health(endpoint_id))[endpoint_id] is not None
        clock.set(seconds=20)
        peer.request_handler = silent
        assert (await pool.check_health(endpoint_id))[endpoint_id] is None  # timed out
        assert pool.status(endpoint_id).state == "degraded"  # still connected: up
        clock.set(seconds=30)
        peer.request_handler = answer_pings
        assert (await pool.check_health(endpoint_id))[endpoint_id] is not None
        clock.set(seconds=45)
        peer.mode = "reject-500"
        peer.connections[-1].drop()
        await wait_for(lambda: pool.status(endpoint_id).state in ("backoff", "connecting"))
        assert history.tick(endpoints={endpoint_id}, servers=()) is None  # minute still open
        clock.set(seconds=75)  # 10:01:15, and no ping has run while it was down
        batches.append(history.tick(endpoints={endpoint_id}, servers=()))
        peer.mode = "idle"
        await wait_for(lambda: pool.status(endpoint_id).initialized)
        clock.set(seconds=90)
        await pool.close()
        assert history.tick(endpoints=set(), servers=()) is None  # gone: no longer counted
        clock.set(seconds=150)  # 10:02:30
        batches.append(history.tick(endpoints=set(), servers=()))
    return batches, pool


@pytest.mark.django_db
def test_a_run_of_pings_with_known_outcomes_gives_exact_buckets_and_uptime():
    endpoint = Endpoint.objects.create(name="ep", url="ws://127.0.0.1:9/mcp/?token=x")
    first, second = asyncio.run(scripted_run(endpoint.pk))[0]

    rows = {(row["resolution"], row["start"]): row for row in first.endpoint_rows()}
    assert set(rows) == {("minute", T0), ("hour", T0)}
    minute = rows[("minute", T0)]
    assert (minute["up_seconds"], minute["down_seconds"]) == (45.0, 15.0)
    assert (minute["pings_ok"], minute["pings_failed"], minute["disconnections"]) == (4, 1, 1)
    assert minute["rtt_count"] == 4 and sum(minute["rtt_histogram"]) == 4
    assert 0 < minute["rtt_sum_ms"] / 4 <= minute["rtt_max_ms"]
    # The 10:01 minute: 15 s down (refused, no ping ran), then 15 s up, then not held.
    rows = {(row["resolution"], row["start"]): row for row in second.endpoint_rows()}
    later = rows[("minute", T0 + timedelta(minutes=1))]
    assert (later["up_seconds"], later["down_seconds"], later["pings_ok"]) == (15.0, 15.0, 0)
    assert rows[("hour", T0)]["up_seconds"] == 60.0 and rows[("hour", T0)]["down_seconds"] == 30.0
    assert rows[("hour", T0)]["pings_ok"] == 4

    for batch in (first, second):
        health_buckets_store(
            worker="w1", endpoint_rows=batch.endpoint_rows(), server_rows=batch.server_rows()
        )
    assert EndpointHealthBucket.objects.filter(resolution="hour").count() == 1  # replaced

    now = T0 + timedelta(minutes=2, seconds=30)
    found = endpoint_history(endpoint=endpoint, window=RANGES["24h"], now=now)
    assert [b["start"] for b in found["buckets"]] == [
        T0.isoformat(),
        (T0 + timedelta(minutes=1)).isoformat(),
    ]
    first_bucket, second_bucket = found["buckets"]
    assert first_bucket["uptimePercent"] == 75.0 and first_bucket["state"] == "partial"
    assert (first_bucket["pingsOk"], first_bucket["pingsFailed"]) == (4, 1)
    assert first_bucket["disconnections"] == 1
    assert second_bucket["uptimePercent"] == 50.0
    assert found["summary"]["uptimePercent"] == 66.667  # 60 s of 90
    assert found["summary"]["disconnections"] == 1
    assert found["uptime"] == {"24h": 66.667, "7d": 66.667, "30d": 66.667}
    assert found["range"] == "24h" and found["resolution"] == "minute"


def server_status(state: str) -> ServerStatus:
    return ServerStatus(server_id=7, name="files", state=state, replicas=())


def test_server_readiness_and_outages_per_minute():
    clock = Clock(T0)
    history = HealthHistory(clock=clock)
    history.observe_server(server_status("starting"))
    clock.set(seconds=10)
    history.observe_server(server_status("ready"))
    clock.set(seconds=40)
    history.observe_server(server_status("restarting"))
    clock.set(seconds=50)
    history.observe_server(server_status("ready"))
    clock.set(seconds=61)
    batch = history.tick(endpoints=(), servers={7})
    minute = next(row for row in batch.server_rows() if row["resolution"] == "minute")
    assert minute == {
        "server_id": 7,
        "resolution": "minute",
        "start": T0,
        "up_seconds": 40.0,
        "down_seconds": 20.0,
        "outages": 1,
    }


def test_p95_from_the_histogram_is_the_bin_edge_capped_at_the_largest_rtt():
    histogram = [0] * 18
    histogram[1] = 94  # 5-10 ms
    histogram[6] = 6  # 75-100 ms
    assert rtt_percentile(histogram, 88.0) == 88.0  # the 95th of 100 is in 75-100 ms
    histogram[6] = 4
    assert rtt_percentile(histogram, 88.0) == 10.0
    assert rtt_percentile([0] * 18, None) is None


@pytest.mark.django_db
def test_retention_prunes_exactly_the_old_rows(settings):
    settings.HUB_HISTORY_MINUTE_DAYS = 2
    settings.HUB_HISTORY_HOUR_DAYS = 90
    endpoint = Endpoint.objects.create(name="ep", url="ws://127.0.0.1:9/mcp/?token=x")
    server = McpServer.objects.create(name="files", command="true")
    now = T0 + timedelta(seconds=30)
    minute_cut, hour_cut = T0 - timedelta(days=2), T0 - timedelta(days=90)
    starts = {
        "minute": [minute_cut - timedelta(minutes=1), minute_cut, T0],
        "hour": [hour_cut - timedelta(hours=1), hour_cut, minute_cut - timedelta(hours=1)],
    }
    for resolution, moments in starts.items():
        for start in moments:
            EndpointHealthBucket.objects.create(
                endpoint=endpoint, resolution=resolution, start=start, worker="w", up_seconds=1
            )
            McpServerHealthBucket.objects.create(
                server=server, resolution=resolution, start=start, worker="w", up_seconds=1
            )
    assert health_history_prune(now=now) == 4
    for model in (EndpointHealthBucket, McpServerHealthBucket):
        kept = set(model.objects.values_list("resolution", "start"))
        assert kept == {
            ("minute", minute_cut),
            ("minute", T0),
            ("hour", hour_cut),
            ("hour", minute_cut - timedelta(hours=1)),
        }


@pytest.mark.django_db
def test_rest_history_shapes_and_the_400_for_an_unknown_range(staff_client):
    endpoint = Endpoint.objects.create(name="ep", url="ws://127.0.0.1:9/mcp/?token=x")
    server = McpServer.objects.create(name="files", command="true")
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    EndpointHealthBucket.objects.create(
        endpoint=endpoint, resolution="hour", start=hour, worker="a", up_seconds=30, pings_ok=3
    )
    EndpointHealthBucket.objects.create(  # the same hour from another worker: added up
        endpoint=endpoint, resolution="hour", start=hour, worker="b", up_seconds=60, down_seconds=30
    )
    McpServerHealthBucket.objects.create(
        server=server, resolution="hour", start=hour, worker="a", up_seconds=10, down_seconds=30
    )

    body = staff_client.get(f"/api/endpoints/{endpoint.pk}/history?range=7d").json()
    assert body["endpoint"] == {"id": endpoint.pk, "name": "ep"}
    assert (body["range"], body["resolution"], body["bucketSeconds"]) == ("7d", "hour", 3600)
    assert len(body["buckets"]) == 1
    assert body["buckets"][0]["upSeconds"] == 90 and body["buckets"][0]["uptimePercent"] == 75.0
    assert body["buckets"][0]["pingsOk"] == 3 and body["buckets"][0]["rttAvgMs"] is None
    assert body["uptime"] == {"24h": 75.0, "7d": 75.0, "30d": 75.0}
    assert staff_client.get(f"/api/endpoints/{endpoint.pk}/history").json()["range"] == "24h"

    body = staff_client.get(f"/api/mcp-servers/{server.pk}/history?range=30d").json()
    assert body["server"]["name"] == "files" and body["summary"]["uptimePercent"] == 25.0
    assert body["buckets"][0]["state"] == "partial"

    for url in (f"/api/endpoints/{endpoint.pk}/history", f"/api/mcp-servers/{server.pk}/history"):
        response = staff_client.get(url + "?range=1y")
        assert response.status_code == 400
        assert response.json() == {"range": ["unknown range '1y'; allowed: 24h, 7d, 30d"]}
    assert staff_client.get("/api/endpoints/999999/history").status_code == 404


@pytest.mark.requires_services("mysql", "redis")
@pytest.mark.django_db(transaction=True)
def test_the_worker_writes_closed_minutes_and_broadcasts_them(peer_thread, start_worker):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(group_name(HEALTH), channel)
    peer = peer_thread.peer()
    token = secret_token("history")
    endpoint = Endpoint.objects.create(name="kept", url=peer.url(token))
    service = start_worker(reconcile_interval=1)
    wait_until(lambda: open_to(peer, token), timeout=15, message="never connected")

    # Move the worker's clock past the end of this minute: its writer closes it.
    clock = service.history.history.clock
    service.history.history.clock = lambda: clock() + 61
    wait_until(
        lambda: EndpointHealthBucket.objects.filter(
            endpoint=endpoint, resolution="minute"
        ).exists(),
        timeout=10,
        message="no minute bucket was written",
    )
    # The first minute (real time may cross into the next one meanwhile: it closes too).
    row = EndpointHealthBucket.objects.filter(endpoint=endpoint, resolution="minute").first()
    assert row.worker == service.owner and row.up_seconds > 0
    assert EndpointHealthBucket.objects.filter(endpoint=endpoint, resolution="hour").exists()

    async def next_bucket_event() -> dict:
        async with asyncio.timeout(10):
            while True:
                frame = (await layer.receive(channel))["frame"]
                if frame["type"] == "health_bucket":
                    return frame["payload"]

    payload = async_to_sync(next_bucket_event)()
    assert payload["resolution"] == "minute" and payload["worker"] == service.owner
    item = next(e for e in payload["endpoints"] if e["endpointId"] == endpoint.pk)
    assert item["start"] == row.start.isoformat()
    assert item["upSeconds"] == pytest.approx(row.up_seconds)
    assert item["downSeconds"] == pytest.approx(row.down_seconds)  # the dial before connecting
    assert item["state"] == ("partial" if row.down_seconds else "up")
    assert "url" not in item and token not in str(payload)
