"""Leases (ownership across workers), stored status and the status dict the API shows."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from endpoints.lease import (
    PRUNE_AFTER,
    SETTLE_CAP,
    lease_claim,
    lease_release,
    lease_round,
    live_worker_count,
    worker_forget,
    worker_heartbeat,
)
from endpoints.models import Endpoint, EndpointEvent, EndpointLiveStatus, PoolWorker
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


def age(seconds: float, *, names: list[str] | None = None) -> None:
    """Let `seconds` pass for the leases and the worker rows (all, or those of `names`):
    every time they hold moves back, as the database's clock moving forward would."""
    delta = timedelta(seconds=seconds)
    workers = PoolWorker.objects.all()
    endpoints = Endpoint.objects.filter(lease_expires_at__isnull=False)
    if names is not None:
        workers, endpoints = workers.filter(name__in=names), endpoints.filter(owner__in=names)
    workers.update(heartbeat_at=F("heartbeat_at") - delta, started_at=F("started_at") - delta)
    endpoints.update(lease_expires_at=F("lease_expires_at") - delta)


def owners() -> Counter:
    return Counter(Endpoint.objects.filter(owner__isnull=False).values_list("owner", flat=True))


def test_a_claim_succeeds_for_one_worker_only_until_the_lease_expires():
    ids = [e.pk for e in make_endpoints(3)]
    assert lease_claim(owner="w1:1:a", endpoint_ids=ids, ttl=TTL) == ids
    assert lease_claim(owner="w2:2:b", endpoint_ids=ids, ttl=TTL) == []
    assert lease_claim(owner="w1:1:a", endpoint_ids=ids[:1], ttl=TTL) == ids[:1]  # renew
    # After the TTL the leases are free for the taking.
    age(TTL + 1)
    assert lease_claim(owner="w2:2:b", endpoint_ids=ids, ttl=TTL) == ids
    assert owners() == {"w2:2:b": 3}
    assert lease_claim(owner="w1:1:a", endpoint_ids=ids, ttl=TTL) == []


def test_a_partly_taken_batch_reports_exactly_the_rows_won():
    ids = [e.pk for e in make_endpoints(4)]
    assert lease_claim(owner="w1:1:a", endpoint_ids=ids[1:3], ttl=TTL) == ids[1:3]
    assert lease_claim(owner="w2:2:b", endpoint_ids=ids, ttl=TTL) == [ids[0], ids[3]]
    assert owners() == {"w1:1:a": 2, "w2:2:b": 2}


def test_disabled_endpoints_are_never_claimed():
    (endpoint,) = make_endpoints(1, enabled=False)
    assert lease_claim(owner="w1:1:a", endpoint_ids=[endpoint.pk], ttl=TTL) == []


@pytest.mark.parametrize("count", [20, 200])
def test_a_round_claims_its_whole_share_in_a_few_statements(count):
    make_endpoints(count)
    with CaptureQueriesContext(connection) as queries:
        first = lease_round(owner="w1:1:a", ttl=TTL)
    assert len(first.claimed) == count
    # Heartbeat (+ insert), prune, live workers, renew, mine, count, ids, free, claim:
    # the same few statements for 20 endpoints as for 200.
    assert len(queries) <= 10, [q["sql"][:80] for q in queries]
    with CaptureQueriesContext(connection) as queries:
        again = lease_round(owner="w1:1:a", ttl=TTL)
    assert again.held == first.held and again.claimed == []
    assert len(queries) <= 6, [q["sql"][:80] for q in queries]
    renewals = [q for q in queries if "UPDATE" in q["sql"] and "lease_expires_at" in q["sql"]]
    assert len(renewals) == 1  # every lease renewed by one statement


def test_lease_times_come_from_the_database_clock_not_the_workers(monkeypatch):
    make_endpoints(2)
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() + timedelta(minutes=30))
    lease_round(owner="w1:1:a", ttl=TTL)
    monkeypatch.undo()
    # Written by the database: about its now + TTL, whatever the worker's clock says.
    for expires in Endpoint.objects.values_list("lease_expires_at", flat=True):
        left = (expires - timezone.now()).total_seconds()
        assert TTL - 5 < left <= TTL + 1, left
    (beat,) = PoolWorker.objects.values_list("heartbeat_at", flat=True)
    assert abs((timezone.now() - beat).total_seconds()) < 5


@pytest.mark.parametrize("skew", [timedelta(minutes=-7), timedelta(minutes=7)])
def test_workers_whose_clocks_disagree_by_minutes_never_hold_one_endpoint_twice(monkeypatch, skew):
    endpoints = make_endpoints(6)
    real_now = timezone.now

    def as_skewed(fn, **kwargs):
        """Run a lease call as a worker whose clock is `skew` off."""
        monkeypatch.setattr(timezone, "now", lambda: real_now() + skew)
        try:
            return fn(**kwargs)
        finally:
            monkeypatch.setattr(timezone, "now", real_now)

    held = lease_round(owner="w1:1:a", ttl=TTL).held
    assert held == [e.pk for e in endpoints]
    # w2's clock is minutes off: to a worker trusting its own clock, w1's leases would
    # look long expired (skew ahead) or w2's own would outlive w1's by minutes (behind).
    second = as_skewed(lease_round, owner="w2:2:b", ttl=TTL)
    assert second.claimed == [] and second.workers == 2
    assert as_skewed(lease_claim, owner="w2:2:b", endpoint_ids=held, ttl=TTL) == []
    # w1 hands its excess over; w2 claims it and its lease lasts TTL by the database.
    first = lease_round(owner="w1:1:a", ttl=TTL)
    lease_release(owner="w1:1:a", endpoint_ids=first.release)
    second = as_skewed(lease_round, owner="w2:2:b", ttl=TTL)
    assert len(second.claimed) == 3 and owners() == {"w1:1:a": 3, "w2:2:b": 3}
    assert lease_claim(owner="w1:1:a", endpoint_ids=second.claimed, ttl=TTL) == []
    # w2 stops renewing: only after the TTL (by the database) can w1 take them.
    age(TTL / 2, names=["w2:2:b"])
    assert lease_claim(owner="w1:1:a", endpoint_ids=second.claimed, ttl=TTL) == []
    age(TTL / 2 + 1, names=["w2:2:b"])
    assert lease_claim(owner="w1:1:a", endpoint_ids=second.claimed, ttl=TTL) == second.claimed
    assert owners() == {"w1:1:a": 6}


def test_workers_share_the_endpoints_fairly_and_give_back_the_excess():
    endpoints = make_endpoints(4)
    first = lease_round(owner="w1:1:a", ttl=TTL)
    assert first.workers == 1 and first.held == [e.pk for e in endpoints]

    # A second worker arrives: it claims nothing yet (all held) ...
    second = lease_round(owner="w2:2:b", ttl=TTL)
    assert second.workers == 2 and second.share == 2 and second.held == []
    # ... the first gives back its newest two (after closing them) ...
    first = lease_round(owner="w1:1:a", ttl=TTL)
    assert first.held == [endpoints[0].pk, endpoints[1].pk]
    assert first.release == [endpoints[2].pk, endpoints[3].pk]
    assert lease_release(owner="w1:1:a", endpoint_ids=first.release) == 2
    # ... and the second takes them.
    second = lease_round(owner="w2:2:b", ttl=TTL)
    assert second.claimed == [endpoints[2].pk, endpoints[3].pk]
    assert owners() == {"w1:1:a": 2, "w2:2:b": 2}


def test_workers_starting_together_wait_for_each_other_and_claim_only_their_share():
    make_endpoints(30)
    settle = 5.0
    names = ["w1:1:a", "w2:2:b", "w3:3:c"]
    # Each registers within the settle period of the others: nobody claims yet.
    for name in names:
        result = lease_round(owner=name, ttl=TTL, settle=settle)
        assert result.settling and result.claimed == []
        age(2)
    assert lease_round(owner=names[0], ttl=TTL, settle=settle).settling  # w3 is 2 s old
    age(settle)
    rounds = [lease_round(owner=name, ttl=TTL, settle=settle) for name in names]
    assert [len(r.claimed) for r in rounds] == [10, 10, 10]
    assert [r.release for r in rounds] == [[], [], []]
    # Disjoint blocks by rank: nobody's batch ran into another's.
    assert sorted(sum((r.held for r in rounds), [])) == sorted(
        Endpoint.objects.values_list("id", flat=True)
    )
    # Nothing moves on the next rounds: no start-up churn.
    again = [lease_round(owner=name, ttl=TTL) for name in names]
    assert [r.held for r in again] == [r.held for r in rounds]
    assert all(not r.release and not r.claimed for r in again)


def test_a_new_worker_waits_no_longer_than_the_settle_cap():
    make_endpoints(4)
    lease_round(owner="w1:1:a", ttl=TTL, settle=5)
    age(SETTLE_CAP * TTL - 1)
    for step in range(3):  # newcomers keep arriving
        lease_round(owner=f"n{step}:{step}:x", ttl=TTL, settle=5)
    assert lease_round(owner="w1:1:a", ttl=TTL, settle=5).settling
    age(1)
    result = lease_round(owner="w1:1:a", ttl=TTL, settle=5)
    assert not result.settling and len(result.held) == 1 == result.share  # 4 live workers


def test_a_joining_worker_moves_only_its_share():
    make_endpoints(30)
    names = ["w1:1:a", "w2:2:b", "w3:3:c"]
    for name in names:
        lease_round(owner=name, ttl=TTL)
    for name in names:  # the first took all; the others get theirs as it gives back
        lease_release(owner=name, endpoint_ids=lease_round(owner=name, ttl=TTL).release)
    for name in names:
        lease_round(owner=name, ttl=TTL)
    assert owners() == {name: 10 for name in names}
    before = dict(Endpoint.objects.values_list("id", "owner"))

    lease_round(owner="w4:4:d", ttl=TTL)  # share 8: each of the three gives back 2
    released = 0
    for name in names:
        result = lease_round(owner=name, ttl=TTL)
        released += lease_release(owner=name, endpoint_ids=result.release)
    joined = lease_round(owner="w4:4:d", ttl=TTL)
    assert released == 6 and len(joined.claimed) == 6
    after = dict(Endpoint.objects.values_list("id", "owner"))
    moved = [pk for pk in before if before[pk] != after[pk]]
    assert len(moved) == 6 and {after[pk] for pk in moved} == {"w4:4:d"}


def test_a_dead_workers_endpoints_are_taken_over_after_the_ttl():
    make_endpoints(9)
    lease_round(owner="w1:1:a", ttl=TTL)  # alone: takes everything
    for name in ("w2:2:b", "w3:3:c"):
        lease_round(owner=name, ttl=TTL)
    assert owners() == {"w1:1:a": 9}
    # w1 dies (stops renewing); within the TTL nothing moves.
    age(TTL / 2, names=["w1:1:a"])
    assert lease_round(owner="w2:2:b", ttl=TTL).held == []
    age(TTL / 2 + 1, names=["w1:1:a"])
    assert live_worker_count(ttl=TTL) == 2
    taken = [lease_round(owner=name, ttl=TTL) for name in ("w2:2:b", "w3:3:c")]
    assert [len(r.held) for r in taken] == [5, 4]
    assert owners() == {"w2:2:b": 5, "w3:3:c": 4}


def test_dead_worker_rows_are_pruned_by_the_live_ones():
    for name in ("w1:1:a", "w2:2:b"):
        worker_heartbeat(name=name)
    age(PRUNE_AFTER * TTL - 1, names=["w1:1:a"])
    lease_round(owner="w2:2:b", ttl=TTL)
    assert PoolWorker.objects.count() == 2  # dead (no longer live) but shown a while
    assert live_worker_count(ttl=TTL) == 1
    age(2, names=["w1:1:a"])
    lease_round(owner="w2:2:b", ttl=TTL)
    assert list(PoolWorker.objects.values_list("name", flat=True)) == ["w2:2:b"]
    # A worker that was only slow comes back with a new row.
    lease_round(owner="w1:1:a", ttl=TTL)
    assert PoolWorker.objects.count() == 2


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


def statements(queries: CaptureQueriesContext) -> int:
    """Statements run, without the savepoints of the test's own transaction."""
    return sum(1 for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT")))


def test_a_status_flush_is_a_few_statements_however_many_endpoints():
    endpoints = make_endpoints(40)
    lease_round(owner="w1:1:a", ttl=TTL)

    def flush(count: int) -> tuple[int, int]:
        statuses = [
            status_for(e, state="connected", connected=True, rtt_ms=5.0) for e in endpoints[:count]
        ]
        with CaptureQueriesContext(connection) as changes:
            endpoint_status_store(
                worker="w1:1:a", changes=[(s, "connecting") for s in statuses], latest=[]
            )
        with CaptureQueriesContext(connection) as counters:
            endpoint_status_store(worker="w1:1:a", changes=[], latest=statuses)
        return statements(changes), statements(counters)

    # Owned ids, events, live rows, the events' prune (read; a delete when over the cap).
    assert flush(5) == flush(40)
    assert flush(40) <= (5, 2)
    assert EndpointLiveStatus.objects.filter(connected=True, rtt_ms=5.0).count() == 40


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
