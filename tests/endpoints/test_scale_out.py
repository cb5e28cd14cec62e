"""The scale-out scenario, CI-sized (bench/scale_out.py runs it big): four real Celery
workers on MariaDB and Redis share 400 endpoints served by one loopback broker-like
peer that counts connections per token; one worker is SIGKILLed and the three others
take its endpoints over. Every endpoint is held by exactly one connection throughout."""

from __future__ import annotations

import math
import signal
import time
from collections import Counter
from urllib.parse import parse_qs, urlsplit

import pytest
import redis

from endpoints.models import Endpoint
from tests.endpoints.conftest import secret_token, wait_until
from tests.services import REDIS_URL, celery_worker, hub_database_url, hub_env, stop

pytestmark = [
    pytest.mark.requires_services("mysql", "redis"),
    pytest.mark.django_db(transaction=True),
]

ENDPOINTS = 400
WORKERS = 4
TTL = 6  # seconds (HUB_POOL_LEASE_TTL): short, and still long enough for a busy 2-core box
RECONCILE_INTERVAL = 1  # seconds (HUB_POOL_RECONCILE_INTERVAL)
POLL = 0.2  # seconds between this test's looks at the peer
# docs/endpoint-pool.md: a dead worker's endpoints are taken over within TTL + TTL/3 (its
# last renewal ran out at most TTL after the kill; the survivors renew, and so claim,
# every TTL/3). Then each survivor dials its part of the ~100 endpoints in its next loop
# pass (up to one reconcile interval late on the shared box); the dials take a few
# seconds on a loaded 2-core machine. Plus one poll of this test.
DIAL_ALLOWANCE = 5.0
TAKEOVER_BOUND = TTL + TTL / 3 + RECONCILE_INTERVAL + DIAL_ALLOWANCE + POLL


def token_of(path: str) -> str:
    return parse_qs(urlsplit(path).query).get("token", [""])[0]


def ready_tokens(peer) -> Counter:
    """Open, initialized connections per token."""
    return Counter(token_of(c.path) for c in peer.open_connections() if c.initialized.is_set())


def all_held_once(peer, tokens: list[str]) -> bool:
    ready = ready_tokens(peer)
    return all(ready[token] == 1 for token in tokens)


def owners() -> Counter:
    return Counter(Endpoint.objects.values_list("owner", flat=True))


def test_four_workers_hold_every_endpoint_once_and_take_over_a_killed_one(
    process_log_dir, peer_thread
):
    redis.Redis.from_url(REDIS_URL).flushdb()
    peer = peer_thread.peer(mode="idle")  # the broker's initialize, then answers pings
    tokens = [secret_token(f"s{i}") for i in range(ENDPOINTS)]
    Endpoint.objects.bulk_create(
        [Endpoint(name=f"e{i}", url=peer.url(token)) for i, token in enumerate(tokens)]
    )
    env = hub_env(
        DATABASE_URL=hub_database_url(),
        REDIS_URL=REDIS_URL,
        HUB_POOL_LEASE_TTL=str(TTL),
        HUB_POOL_RECONCILE_INTERVAL=str(RECONCILE_INTERVAL),
    )
    workers = {
        name: celery_worker(name, env, process_log_dir / f"{name}.log")
        for name in (f"w{i}" for i in range(1, WORKERS + 1))
    }
    share = math.ceil(ENDPOINTS / WORKERS)
    try:
        wait_until(
            lambda: (
                all_held_once(peer, tokens)
                and len(held := owners()) == WORKERS
                and max(held.values()) <= share
            ),
            timeout=90,
            interval=POLL,
            message="the endpoints were not spread over the four workers",
        )

        # SIGKILL one worker (its whole process group, as a lost machine).
        victim = Endpoint.objects.get(name="e0").owner
        name = next(n for n, p in workers.items() if str(p.pid) == victim.split(":")[1])
        killed_at = time.monotonic()
        stop(workers.pop(name), sig=signal.SIGKILL)
        wait_until(
            lambda: (
                all_held_once(peer, tokens)
                and victim not in (held := owners())
                and len(held) == WORKERS - 1
            ),
            timeout=TAKEOVER_BOUND + 30,  # past the bound: only to report how late it was
            interval=POLL,
            message="the survivors did not take over",
        )
        took = time.monotonic() - killed_at
        assert took < TAKEOVER_BOUND, f"takeover took {took:.1f} s, bound {TAKEOVER_BOUND} s"
        survivors = owners()
        assert sum(survivors.values()) == ENDPOINTS
        assert max(survivors.values()) <= math.ceil(ENDPOINTS / (WORKERS - 1))
    finally:
        for process in workers.values():
            stop(process)
    # Never two connections with one token at the same time, start-up and takeover included.
    doubled = {token[-6:]: n for token in tokens if (n := peer.most[token]) != 1}
    assert not doubled, doubled
    assert not Endpoint.objects.filter(owner__isnull=False).exists()  # released on stop
