"""Leases (ownership across workers), stored status and the status dict the API shows."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from endpoints.lease import (
    lease_claim,
    lease_release,
    lease_round,
    live_worker_count,
    worker_forget,
    worker_heartbeat,
)
from endpoints.models import Endpoint, EndpointEvent, PoolWorker
from endpoints.pool.status import EndpointStatus
from endpoints.selectors.endpoint import (
    endpoint_events,
    endpoint_status_list,
    pool_status,
    status_payload,
)
from endpoints.services.endpoint_status import endpoint_status_store
from tests.endpoints.conftest import SECRET_MARK, secret_url

pytestmark = pytest.mark.django_db

TTL = 10.0


def make_endpoints(count: int, *, enabled: bool = True) -> list[Endpoint]:
    return [
        Endpoint.objects.create(name=f"e{i}", url=secret_url(tag=str(i)), enabled=enabled)
        for i in range(count)
    ]


def test_a_claim_succeeds_for_one_worker_only_until_the_lease_expires():
    (endpoint,) = make_endpoints(1)
    now = timezone.now()
    assert lease_claim(owner="w1:1:a", endpoint_id=endpoint.pk, ttl=TTL, now=now)
    assert not lease_claim(owner="w2:2:b", endpoint_id=endpoint.pk, ttl=TTL, now=now)
    assert lease_claim(owner="w1:1:a", endpoint_id=endpoint.pk, ttl=TTL, now=now)  # renew
    # After the TTL the lease is free for the taking.
    later = now + timedelta(seconds=TTL + 1)
    assert lease_claim(owner="w2:2:b", endpoint_id=endpoint.pk, ttl=TTL, now=later)
    endpoint.refresh_from_db()
    assert endpoint.owner == "w2:2:b"
    assert not lease_claim(owner="w1:1:a", endpoint_id=endpoint.pk, ttl=TTL, now=later)


def test_disabled_endpoints_are_never_claimed():
    (endpoint,) = make_endpoints(1, enabled=False)
    assert not lease_claim(owner="w1:1:a", endpoint_id=endpoint.pk, ttl=TTL)


def test_workers_share_the_endpoints_fairly_and_give_back_the_excess():
    endpoints = make_endpoints(4)
    now = timezone.now()
    first = lease_round(owner="w1:1:a", ttl=TTL, now=now)
    assert first.workers == 1 and first.held == [e.pk for e in endpoints]

    # A second worker arrives: it claims nothing yet (all held) ...
    second = lease_round(owner="w2:2:b", ttl=TTL, now=now)
    assert second.workers == 2 and second.share == 2 and second.held == []
    # ... the first gives back its newest two (after closing them) ...
    first = lease_round(owner="w1:1:a", ttl=TTL, now=now)
    assert first.held == [endpoints[0].pk, endpoints[1].pk]
    assert first.release == [endpoints[2].pk, endpoints[3].pk]
    assert lease_release(owner="w1:1:a", endpoint_ids=first.release) == 2
    # ... and the second takes them.
    second = lease_round(owner="w2:2:b", ttl=TTL, now=now)
    assert second.claimed == [endpoints[2].pk, endpoints[3].pk]
    owners = dict(Endpoint.objects.values_list("id", "owner"))
    assert sorted(owners.values()) == ["w1:1:a", "w1:1:a", "w2:2:b", "w2:2:b"]


def test_a_dead_workers_endpoints_are_taken_over_after_the_ttl():
    make_endpoints(2)
    now = timezone.now()
    lease_round(owner="w1:1:a", ttl=TTL, now=now)
    lease_round(owner="w2:2:b", ttl=TTL, now=now)
    assert Endpoint.objects.filter(owner="w1:1:a").count() == 2  # w1 was first
    # w1 dies (stops renewing); within the TTL nothing moves.
    soon = now + timedelta(seconds=TTL / 2)
    assert lease_round(owner="w2:2:b", ttl=TTL, now=soon).held == []
    later = now + timedelta(seconds=TTL + 1)
    taken = lease_round(owner="w2:2:b", ttl=TTL, now=later)
    assert live_worker_count(ttl=TTL, now=later) == 1
    assert len(taken.held) == 2 and Endpoint.objects.filter(owner="w2:2:b").count() == 2


def test_disabled_endpoints_are_given_back_and_forgetting_a_worker_frees_everything():
    endpoints = make_endpoints(2)
    lease_round(owner="w1:1:a", ttl=TTL)
    Endpoint.objects.filter(pk=endpoints[0].pk).update(enabled=False)
    result = lease_round(owner="w1:1:a", ttl=TTL)
    assert result.release == [endpoints[0].pk] and result.held == [endpoints[1].pk]
    worker_heartbeat(name="w1:1:a")
    worker_forget(name="w1:1:a")
    assert not Endpoint.objects.filter(owner__isnull=False).exists()
    assert not PoolWorker.objects.exists()


def status_for(endpoint: Endpoint, **fields) -> EndpointStatus:
    status = EndpointStatus(endpoint_id=endpoint.pk, name=endpoint.name, url=endpoint.url)
    for key, value in fields.items():
        setattr(status, key, value)
    return status


def test_stored_status_reads_back_as_the_pools_own_status_dict():
    (endpoint,) = make_endpoints(1)
    lease_round(owner="w1:1:a", ttl=TTL)
    at = datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    status = status_for(
        endpoint,
        state="degraded",
        connected=True,
        initialized=True,
        last_connected=at,
        last_error="timeout after 10 s",
        error_class="timeout",
        health_score=71.5,
        rtt_ms=12.5,
        rtt_p95_ms=30.0,
        rtt_history=[10.0, 12.5],
        consecutive_failures=1,
        total_requests=7,
        successful_requests=6,
        reconnect_history=[{"at": at, "error_class": "network", "error": "x", "delay": 5.0}],
        token_expires_at=endpoint.token_expires_at,
    )
    endpoint_status_store(worker="w1:1:a", changes=[(status, "connected")], latest=[])
    stored = endpoint_status_list()[0]
    assert stored == status_payload(status, worker="w1:1:a")
    assert SECRET_MARK not in str(stored) and stored["url"].endswith("token=***")
    event = EndpointEvent.objects.get()
    assert (event.previous_state, event.state, event.error_class) == (
        "connected",
        "degraded",
        "timeout",
    )


def test_status_from_a_worker_that_lost_the_lease_is_ignored_and_stale_status_is_not_shown():
    (endpoint,) = make_endpoints(1)
    lease_round(owner="w1:1:a", ttl=TTL)
    connected = status_for(endpoint, state="connected", connected=True, initialized=True)
    endpoint_status_store(worker="w2:2:b", changes=[(connected, "")], latest=[])
    assert endpoint_status_list()[0]["state"] == "connecting"
    endpoint_status_store(worker="w1:1:a", changes=[(connected, "")], latest=[])
    assert endpoint_status_list()[0]["connected"] is True
    # The worker dies: once its lease lapsed the status no longer claims a connection.
    Endpoint.objects.update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    stale = endpoint_status_list()[0]
    assert stale["connected"] is False and stale["state"] == "connecting"
    assert stale["worker"] is None
    Endpoint.objects.update(enabled=False)
    assert endpoint_status_list()[0]["state"] == "disabled"


def test_events_are_capped_per_endpoint():
    first, second = make_endpoints(2)
    lease_round(owner="w1:1:a", ttl=TTL)
    for i in range(7):
        state = "connected" if i % 2 else "backoff"
        endpoint_status_store(
            worker="w1:1:a",
            changes=[(status_for(first, state=state), ""), (status_for(second, state=state), "")],
            latest=[],
            events_kept=5,
        )
    assert EndpointEvent.objects.filter(endpoint=first).count() == 5
    assert EndpointEvent.objects.filter(endpoint=second).count() == 5
    newest = endpoint_events(endpoint_id=first.pk, limit=1)[0]
    assert newest["state"] == "backoff"  # i = 6


def test_pool_status_has_the_multi_endpoint_shape():
    endpoints = make_endpoints(3)
    lease_round(owner="w1:1:a", ttl=TTL)
    endpoint_status_store(
        worker="w1:1:a",
        changes=[
            (status_for(endpoints[0], state="connected", connected=True, health_score=90), ""),
            (status_for(endpoints[1], state="degraded", connected=True, health_score=60), ""),
            (status_for(endpoints[2], state="backoff"), ""),
        ],
        latest=[],
    )
    body = pool_status()
    assert body["type"] == "multi-endpoint"
    manager = body["manager"]
    assert (
        manager["totalConnections"],
        manager["connectedConnections"],
        manager["healthyConnections"],
    ) == (3, 2, 1)
    assert manager["healthCheckStats"]["averageHealthScore"] == 75.0
    assert manager["healthCheckStats"]["degradedConnections"] == 1
    assert [c["id"] for c in body["connections"]] == [e.pk for e in endpoints]
    assert SECRET_MARK not in str(body)
