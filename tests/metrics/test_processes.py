"""/metrics with the pool in other processes: two Celery workers on MariaDB and Redis
(their numbers published through Redis, merged in this process's scrape; a killed
worker's series leave after the TTL), and `runhub` (one process, no Redis).

Real peers, real tool calls through the hub, real report posts; the scrape is read
with Prometheus's own text parser."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
import redis
from django.test import Client
from mcp.shared.exceptions import MCPError

from tests.console.helpers import REPORT_PATH, report_body
from tests.endpoints.conftest import SECRET_MARK, secret_token, wait_until
from tests.endpoints.test_pool_processes import CREATE_TOKEN, Api, connected
from tests.metrics.scrape import TOKEN, parse, scrape_client, scrape_http, values, workers
from tests.services import (
    REDIS_URL,
    celery_worker,
    hub_database_url,
    hub_env,
    run_in_hub,
    start_listening,
    stop,
)

PUBLISH_INTERVAL = 1  # s (HUB_METRICS_PUBLISH_INTERVAL); the TTL is three of them
TTL = 3 * PUBLISH_INTERVAL
FAST_PINGS = {"healthCheckInterval": 1000}  # ms: RTT samples every second
REPORT_SECRET = "metrics-test-report-secret"


def label(process: subprocess.Popen) -> str:
    """The `worker` label of a process's numbers: host and pid."""
    return f"{socket.gethostname()}:{process.pid}"


def call_tools(peer_thread, peer, token: str) -> None:
    """One tool call that works and one of a name no server has, from the peer."""
    connection = next(c for c in peer.open_connections() if token in c.path)
    result = peer_thread.run(connection.call_tool("hub__echo", {"text": "metrics"}))
    assert not result.is_error, result
    with pytest.raises(MCPError):
        peer_thread.run(connection.call_tool("nobody__has_this", {}))


def rtt_counts(families, endpoint: str) -> list[float]:
    return values(families, "xiaozhi_hub_endpoint_rtt_seconds_count", endpoint=endpoint)


@pytest.mark.requires_services("mysql", "redis")
@pytest.mark.django_db(transaction=True)
def test_celery_workers_numbers_in_one_scrape_and_a_killed_workers_leave_after_the_ttl(
    process_log_dir, peer_thread, staff_client, settings
):
    redis.Redis.from_url(REDIS_URL).flushdb()
    settings.HUB_METRICS_TOKEN = TOKEN
    settings.HUB_METRICS_ALLOWED_IPS = []
    peer = peer_thread.peer()
    tokens = {f"m{i}": secret_token(f"m{i}") for i in range(2)}
    ids = {}
    for name, token in tokens.items():
        body = {"name": name, "url": peer.url(token), "options": FAST_PINGS}
        response = staff_client.post("/api/endpoints", body, format="json")
        assert response.status_code == 201, response.content
        ids[name] = str(response.json()["id"])
    env = hub_env(
        DATABASE_URL=hub_database_url(),
        REDIS_URL=REDIS_URL,
        HUB_POOL_LEASE_TTL="6",  # a slow box (coverage) must not move endpoints mid-test
        HUB_POOL_RECONCILE_INTERVAL="1",
        HUB_METRICS_PUBLISH_INTERVAL=str(PUBLISH_INTERVAL),
    )
    processes = {n: celery_worker(n, env, process_log_dir / f"{n}.log") for n in ("w1", "w2")}
    client = Client()

    def scraped():
        status, text = scrape_client(client)
        assert status == 200, text
        return parse(text)

    def from_workers(families, sample: str, **labels: str) -> list[float]:
        """The two workers' values only: this process answers the scrape with its own
        registry too, which holds counts from earlier in-process pool tests."""
        return [
            value
            for process in processes.values()
            for value in values(families, sample, worker=label(process), **labels)
        ]

    try:

        def both_held_and_connected() -> bool:
            families = scraped()
            return workers(families, "xiaozhi_hub_endpoint_connected") == {
                label(p) for p in processes.values()
            } and all(
                values(families, "xiaozhi_hub_endpoint_connected", endpoint=name) == [1.0]
                for name in tokens
            )

        wait_until(
            lambda: all(connected(peer, t) for t in tokens.values()) and both_held_and_connected(),
            timeout=60,
            interval=0.3,
            message="the two workers' endpoints never showed in one scrape",
        )
        call_tools(peer_thread, peer, tokens["m0"])
        wait_until(
            lambda: (
                from_workers(scraped(), "xiaozhi_hub_tool_calls_total", outcome="not_found")
                and from_workers(scraped(), "xiaozhi_hub_tool_calls_total", tool="hub__echo")
                # a series may exist before its first ping: wait for a counted one
                and all(sum(rtt_counts(scraped(), name)) > 0 for name in tokens)
            ),
            timeout=15,
            interval=0.3,
            message="the tool calls or RTT samples never reached the scrape",
        )
        status, text = scrape_client(client)
        families = parse(text)
        # One family each (parse checks): both workers' samples, told apart by `worker`.
        assert len(workers(families, "xiaozhi_hub_endpoint_state")) == 2
        for name, endpoint_id in ids.items():
            assert values(
                families, "xiaozhi_hub_endpoint_connected", endpoint=name, endpoint_id=endpoint_id
            ) == [1.0]
            assert values(families, "xiaozhi_hub_endpoint_state", endpoint=name, state="connected")
            assert rtt_counts(families, name)[0] > 0
            assert 0 < values(families, "xiaozhi_hub_endpoint_health_score", endpoint=name)[0]
        assert from_workers(
            families, "xiaozhi_hub_tool_calls_total", server="hub", tool="hub__echo"
        ) == [1.0]
        assert from_workers(
            families, "xiaozhi_hub_tool_calls_total", tool="unknown", outcome="not_found"
        ) == [1.0]
        assert from_workers(
            families, "xiaozhi_hub_tool_call_duration_seconds_count", tool="hub__echo"
        ) == [1.0]
        assert values(families, "xiaozhi_hub_metrics_published_up") == [1.0]
        assert SECRET_MARK not in text

        # Unauthenticated scrapes are refused while the numbers are there.
        assert scrape_client(client, token=None)[0] == 401
        assert scrape_client(client, token="not-the-metrics-token")[0] == 401
        settings.HUB_METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
        assert scrape_client(client)[0] == 403  # right token, address not allowed
        settings.HUB_METRICS_ALLOWED_IPS = []

        # SIGKILL one worker: it deletes nothing, its snapshot expires.
        victim_name = next(iter(processes))
        victim = processes.pop(victim_name)
        gone = label(victim)
        stop(victim, sig=signal.SIGKILL)
        killed_at = time.monotonic()

        def victim_gone() -> bool:
            return not any(
                s.labels.get("worker") == gone for f in scraped().values() for s in f.samples
            )

        wait_until(
            victim_gone, timeout=TTL + 10, interval=0.2, message="the dead worker's numbers stay"
        )
        took = time.monotonic() - killed_at
        assert took <= TTL + 1, f"the dead worker's numbers left after {took:.1f} s (TTL {TTL} s)"
        (survivor,) = processes.values()
        assert label(survivor) in workers(scraped(), "xiaozhi_hub_endpoint_connected")
    finally:
        for process in processes.values():
            stop(process)
    for log in process_log_dir.glob("*.log"):
        assert SECRET_MARK not in log.read_text(), log.name


def post_report(port: int, body: bytes, secret: str) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{REPORT_PATH}",
        data=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {secret}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_runhub_serves_its_pool_and_report_numbers_without_redis(
    tmp_path, process_log_dir, peer_thread
):
    peer = peer_thread.peer()
    token = secret_token("runhub-metrics")
    env = hub_env(
        HUB_DATA_DIR=str(tmp_path), HUB_METRICS_TOKEN=TOKEN, HUB_REPORT_SECRET=REPORT_SECRET
    )
    log = process_log_dir / "runhub.log"
    hub, port = start_listening(
        lambda port: [sys.executable, "manage.py", "runhub", "--port", str(port)], env, log
    )
    try:
        key = run_in_hub(CREATE_TOKEN, env)
        api = Api(port, key)
        body = {"name": "desk", "url": peer.url(token), "options": FAST_PINGS}
        code, created = api("POST", "/api/endpoints", body)
        assert code == 201, created
        wait_until(lambda: connected(peer, token), timeout=15, message="hub never connected")
        call_tools(peer_thread, peer, token)

        report = json.dumps(report_body("aa:bb:cc:dd:ee:01", "你好")).encode()
        assert post_report(port, report, REPORT_SECRET) == 200
        assert post_report(port, report, REPORT_SECRET) == 200
        assert post_report(port, report, "not-the-secret") == 401
        assert post_report(port, b'{"macAddress": ', REPORT_SECRET) == 400

        assert scrape_http(port, token=None)[0] == 401
        assert scrape_http(port, token="not-the-metrics-token")[0] == 401
        wait_until(
            lambda: rtt_counts(parse(scrape_http(port)[1]), "desk"),
            timeout=10,
            message="no RTT sample in runhub's scrape",
        )
        status, text = scrape_http(port)
        assert status == 200, text
        families = parse(text)
        own = {label(hub)}
        assert workers(families, "xiaozhi_hub_endpoint_connected") == own
        assert values(families, "xiaozhi_hub_endpoint_connected", endpoint="desk") == [1.0]
        assert values(families, "xiaozhi_hub_tool_calls_total", tool="hub__echo", outcome="ok")
        ingest = {
            s.labels["outcome"]: s.value
            for s in families["xiaozhi_hub_report_ingest"].samples
            if s.name == "xiaozhi_hub_report_ingest_total"
        }
        assert ingest == {"accepted": 2.0, "unauthorized": 1.0, "invalid": 1.0}, ingest
        assert values(families, "xiaozhi_hub_console_connections") == [0.0]
        assert "xiaozhi_hub_metrics_published_up" not in families  # no Redis: nothing to read
        assert SECRET_MARK not in text
    finally:
        took, clean = stop(hub, timeout=15)
    assert clean, f"runhub did not stop cleanly ({took:.1f} s)"
    assert SECRET_MARK not in log.read_text()
