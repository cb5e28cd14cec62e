"""The pool in real processes: runhub (one process, in-process control) and two Celery
workers on MariaDB and Redis (pub/sub control, leases), driven through REST and the
admin, with loopback xiaozhi peers counting the hub's connections per token."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
import urllib.request
from contextlib import contextmanager

import pytest
import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from endpoints.models import Endpoint
from tests.endpoints.conftest import SECRET_MARK, secret_token, wait_until
from tests.services import (
    REDIS_URL,
    celery_worker,
    hub_database_url,
    hub_env,
    run_in_hub,
    start_listening,
    stop,
)
from xiaozhi_hub.broadcast import HEALTH, group_name

CREATE_TOKEN = """
from django.contrib.auth import get_user_model
from xiaozhi_hub.access.tokens import api_token_create
user = get_user_model().objects.create_user("api", password="pw", is_staff=True, is_superuser=True)
print(api_token_create(user=user))
"""


class Api:
    """A tiny REST client for a hub in another process."""

    def __init__(self, port: int, token: str) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.token = token

    def __call__(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        request = urllib.request.Request(
            self.base + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Token {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else {}
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")


async def next_health_event(layer, channel: str, timeout: float = 10) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            message = await layer.receive(channel)
            frame = message.get("frame", {})
            if frame.get("type") == "endpoint_health" and frame["payload"]["endpoint"]["connected"]:
                return frame["payload"]


def connected(peer, token: str) -> bool:
    return peer.live[token] == 1 and any(
        c.initialized.is_set() and token in c.path for c in peer.open_connections()
    )


@contextmanager
def runhub_with_api(tmp_path, log_path):
    """`runhub` on SQLite in tmp_path, with a staff API token; stopped cleanly after.

    It reconciles rarely (60 s), so a change can only arrive through the control message.
    """
    env = hub_env(HUB_DATA_DIR=str(tmp_path), HUB_POOL_RECONCILE_INTERVAL="60")
    hub, port = start_listening(
        lambda port: [sys.executable, "manage.py", "runhub", "--port", str(port)], env, log_path
    )
    try:
        key = run_in_hub(CREATE_TOKEN, env)
        yield Api(port, key)
    finally:
        took, clean = stop(hub, timeout=15)
    assert clean, f"runhub did not stop cleanly ({took:.1f} s)"


def test_runhub_applies_rest_changes_to_the_running_pool(tmp_path, process_log_dir, peer_thread):
    first, second = peer_thread.peer(), peer_thread.peer()
    token = secret_token("runhub")
    with runhub_with_api(tmp_path, process_log_dir / "runhub.log") as api:
        code, created = api("POST", "/api/endpoints", {"name": "a", "url": first.url(token)})
        assert code == 201, created
        assert SECRET_MARK not in json.dumps(created)
        endpoint_id = created["id"]
        wait_until(lambda: connected(first, token), timeout=5, message="hub never connected")

        code, checked = api("POST", f"/api/endpoints/{endpoint_id}/check")
        assert code == 200 and checked["results"][0]["ok"] is True, checked
        code, probed = api("POST", "/api/endpoints/probe", {"method": "ping"})
        assert code == 200 and probed["endpoint"] == {"id": endpoint_id, "name": "a"}, probed

        # Change the URL: the old peer is left, the new one dialled.
        code, body = api("PATCH", f"/api/endpoints/{endpoint_id}", {"url": second.url(token)})
        assert code == 200, body
        wait_until(lambda: connected(second, token), timeout=5, message="new URL not dialled")
        wait_until(lambda: first.live[token] == 0, timeout=5, message="old URL still open")

        wait_until(
            lambda: api("GET", "/api/status")[1]["manager"]["connectedConnections"] == 1,
            timeout=5,
        )
        code, status = api("GET", "/api/status")
        assert status["connections"][0]["state"] == "connected"
        assert SECRET_MARK not in json.dumps(status)

        code, _ = api("DELETE", f"/api/endpoints/{endpoint_id}")
        assert code == 204
        wait_until(lambda: second.live[token] == 0, timeout=5, message="removed but still open")
        assert first.most[token] == 1 and second.most[token] == 1
    log = (process_log_dir / "runhub.log").read_text()
    assert "endpoint pool worker" in log and "leases released" in log
    assert SECRET_MARK not in log


TTL = 3  # seconds (HUB_POOL_LEASE_TTL)
RECONCILE_INTERVAL = 1  # seconds (HUB_POOL_RECONCILE_INTERVAL)
POLL = 0.2  # seconds between this test's looks at the peer and the database
# docs/endpoint-pool.md: a dead worker's endpoints are taken over within TTL + TTL/3
# (its last renewal ran out at most TTL after the kill; the survivor renews, and so
# claims, every TTL/3). The claim and the dial happen in the survivor's next loop
# pass (lease round, reconcile, connect): on the shared 2-core box that pass may
# start and finish up to one reconcile interval late. Plus one poll of this test.
TAKEOVER_BOUND = TTL + TTL / 3 + RECONCILE_INTERVAL + POLL


@pytest.mark.requires_services("mysql", "redis")
@pytest.mark.django_db(transaction=True)
def test_two_celery_workers_share_endpoints_never_both_connect_and_take_over_a_dead_one(
    process_log_dir, peer_thread, staff_client
):
    redis.Redis.from_url(REDIS_URL).flushdb()
    peer = peer_thread.peer()
    tokens = [secret_token(f"w{i}") for i in range(4)]
    env = hub_env(
        DATABASE_URL=hub_database_url(),
        REDIS_URL=REDIS_URL,
        HUB_POOL_LEASE_TTL=str(TTL),
        HUB_POOL_RECONCILE_INTERVAL=str(RECONCILE_INTERVAL),
    )
    # The first endpoint through the admin's add form (the URL field is write-only).
    response = staff_client.post(
        "/admin/endpoints/endpoint/add/",
        {"name": "e0", "url": peer.url(tokens[0]), "enabled": "on", "health_check_enabled": "on"},
    )
    assert response.status_code == 302, response.content[:2000]
    for i, token in enumerate(tokens[1:], start=1):
        staff_client.post(
            "/api/endpoints", {"name": f"e{i}", "url": peer.url(token)}, format="json"
        )
    assert Endpoint.objects.count() == 4

    # Listen where the console listens: the health group of the Redis channel layer.
    layer = get_channel_layer()
    health_channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(group_name(HEALTH), health_channel)

    workers = {
        name: celery_worker(name, env, process_log_dir / f"{name}.log") for name in ("w1", "w2")
    }
    try:
        # Every endpoint connected once, and both workers hold some (fair share).
        wait_until(
            lambda: (
                all(connected(peer, t) for t in tokens)
                and Endpoint.objects.values("owner").distinct().count() == 2
            ),
            timeout=40,
            interval=0.2,
            message="endpoints not spread over both workers",
        )

        # Status changes were broadcast to the console's group, URL masked.
        event = async_to_sync(next_health_event)(layer, health_channel)
        assert event["endpoint"]["url"].endswith("token=***"), event
        assert SECRET_MARK not in json.dumps(event)

        # Admin actions reach the worker that holds the endpoint.
        e0 = Endpoint.objects.get(name="e0")
        changelist = "/admin/endpoints/endpoint/"
        staff_client.post(changelist, {"action": "disable", "_selected_action": [e0.pk]})
        wait_until(lambda: peer.live[tokens[0]] == 0, timeout=5, message="disable not applied")
        staff_client.post(changelist, {"action": "enable", "_selected_action": [e0.pk]})
        wait_until(lambda: connected(peer, tokens[0]), timeout=5, message="enable not applied")

        opened = peer.opened[tokens[1]]
        e1 = Endpoint.objects.get(name="e1")
        redialled = staff_client.post(f"/api/endpoints/{e1.pk}/reconnect")
        assert redialled.status_code == 200, redialled.content
        assert redialled.json()["done"] is True and redialled.json()["worker"]
        wait_until(
            lambda: peer.opened[tokens[1]] > opened and connected(peer, tokens[1]),
            timeout=5,
            message="reconnect not applied",
        )
        report = staff_client.post("/api/endpoints/check").json()
        assert sorted(r["id"] for r in report["results"] if r["ok"]) == sorted(
            Endpoint.objects.values_list("id", flat=True)
        ), report
        assert len({r["worker"] for r in report["results"]}) == 2

        # SIGKILL one worker: the survivor takes all its endpoints over.
        victim = Endpoint.objects.get(name="e0").owner.split(":")[1]
        name = next(n for n, p in workers.items() if str(p.pid) == victim)
        killed_at = time.monotonic()  # stop() signals first, then waits for the whole group
        stop(workers.pop(name), sig=signal.SIGKILL)
        (survivor,) = workers.values()
        wait_until(
            lambda: (
                all(connected(peer, t) for t in tokens)
                and Endpoint.objects.values("owner").distinct().count() == 1
            ),
            timeout=TAKEOVER_BOUND + 30,  # past the bound: only to report how late it was
            interval=POLL,
            message="the survivor did not take over",
        )
        took = time.monotonic() - killed_at
        assert took < TAKEOVER_BOUND, f"takeover took {took:.1f} s, bound {TAKEOVER_BOUND} s"
        # The survivor writes the status rows just after it connects.
        wait_until(
            lambda: staff_client.get("/api/status").json()["manager"]["connectedConnections"] == 4,
            timeout=5,
            message="the status does not show the taken-over endpoints connected",
        )
        status = staff_client.get("/api/status").json()
        assert SECRET_MARK not in json.dumps(status)
    finally:
        for process in workers.values():
            stop(process)
    # Never two connections with one token at the same time.
    most = {f"e{i}": peer.most[t] for i, t in enumerate(tokens)}
    assert set(most.values()) == {1}, most
    assert not Endpoint.objects.filter(owner__isnull=False).exists()  # released on stop
    for log in process_log_dir.glob("*.log"):
        assert SECRET_MARK not in log.read_text(), log.name
