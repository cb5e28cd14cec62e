"""A pool worker that cannot renew its endpoint leases closes its connections before
the lease can run out (docs/endpoint-pool.md, "Ownership"), made to fail for real on
MariaDB from another connection: the table the lease round writes first is renamed
away (every renewal errors) or locked (every renewal hangs), then put back. And the
other way round: a status thread kept busy does not hold the renewals up."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from endpoints.models import Endpoint, EndpointLiveStatus, PoolWorker
from tests.endpoints.conftest import open_to, secret_token, wait_until

pytestmark = [
    pytest.mark.requires_services("mysql"),
    pytest.mark.django_db(transaction=True),
]

# The worker closes its connections at its lease deadline (TTL * 5/6 after the last
# renewal started): its lease loop sleeps no later than the deadline, and a renewal
# that hangs is waited for only until then. The TTL/6 margin left before the lease
# runs out must hold the wake-up and the close handshake: 2 s here, plenty on the
# shared 2-core box.
TTL = 12.0
RECONCILE_INTERVAL = 1.0
POLL = 0.02  # this test's looks at the peer


@contextmanager
def other_connection() -> Iterator:
    """A cursor on a connection of its own (not the test's, not the worker's)."""
    wrapper = connections["default"].copy()
    try:
        with wrapper.cursor() as cursor:
            yield cursor
    finally:
        wrapper.close()


@contextmanager
def renamed_away(table: str) -> Iterator[None]:
    """Every statement on `table` fails at once (1146, table doesn't exist)."""
    with other_connection() as cursor:
        cursor.execute(f"RENAME TABLE {table} TO {table}_away")
        try:
            yield
        finally:
            cursor.execute(f"RENAME TABLE {table}_away TO {table}")


@contextmanager
def locked(table: str) -> Iterator[None]:
    """Every statement on `table` waits (lock_wait_timeout: a day by default), as on a
    database that stopped answering."""
    with other_connection() as cursor:
        cursor.execute(f"LOCK TABLES {table} WRITE")
        try:
            yield
        finally:
            cursor.execute("UNLOCK TABLES")


@pytest.fixture
def worker(start_worker):
    return start_worker(ttl=TTL, reconcile_interval=RECONCILE_INTERVAL)


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param(renamed_away, id="renewal-fails"),
        pytest.param(locked, id="renewal-hangs"),
    ],
)
def test_a_worker_that_cannot_renew_closes_its_connections_before_the_lease_runs_out(
    peer_thread, worker, fault
):
    peer = peer_thread.peer()
    token = secret_token("lease-loss")
    endpoint = Endpoint.objects.create(name="held", url=peer.url(token))
    wait_until(lambda: open_to(peer, token), timeout=15, message="never connected")
    assert Endpoint.objects.get(pk=endpoint.pk).owner == worker.owner

    # The lease round writes the worker's heartbeat first.
    with fault(PoolWorker._meta.db_table):
        broken_at = time.monotonic()
        wait_until(
            lambda: not open_to(peer, token),
            timeout=TTL + 2,  # the lease has run out by then, whenever it was renewed
            interval=POLL,
            message="the connection outlived the lease",
        )
        closed_at, closed_after = timezone.now(), time.monotonic() - broken_at
        # The last renewal that got through wrote lease_expires_at = its start + TTL.
        expires = Endpoint.objects.get(pk=endpoint.pk).lease_expires_at
        renewed = expires - timedelta(seconds=TTL)
    # By the deadline, TTL * 5/6 after that renewal, plus one pass, which the design
    # fits in the TTL/6 left: before the lease ran out and another worker could claim it.
    assert closed_at < expires, f"closed {closed_at - renewed} after the last renewal"
    # Not at the first failed renewal (due within TTL/3 of the fault): the lease had
    # time left, and a shorter outage would have cost nothing.
    assert closed_after > TTL / 3, closed_after
    closed = [c for c in peer.connections if token in c.path]
    assert [c.ws.close_code for c in closed] == [1000]  # closed cleanly, not dropped

    # Renewals work again: the worker holds the endpoint and dials it once more.
    wait_until(lambda: open_to(peer, token), timeout=TTL, message="never reconnected")
    assert peer.most[token] == 1  # never two connections at once


def stall(*, seconds: float) -> None:
    time.sleep(seconds)


def test_a_busy_status_thread_does_not_hold_up_the_lease_renewals(peer_thread, worker):
    peer = peer_thread.peer()
    token = secret_token("status-busy")
    endpoint = Endpoint.objects.create(name="held", url=peer.url(token))
    wait_until(lambda: open_to(peer, token), timeout=15, message="never connected")

    # The worker's status thread is busy for 1.5 TTL (as with a huge flush): status,
    # history and the MCP servers' reads queue behind it. The lease thread does not.
    before = Endpoint.objects.get(pk=endpoint.pk).lease_expires_at
    busy = asyncio.run_coroutine_threadsafe(
        worker.db.call(stall, seconds=TTL * 1.5), peer_thread.loop
    )
    # A state change makes the worker want to write: the peer drops, the worker redials.
    (connection,) = open_to(peer, token)
    peer_thread.run(connection.close())
    wait_until(lambda: open_to(peer, token), timeout=10, message="never redialled")
    busy.result(timeout=TTL * 2)
    row = Endpoint.objects.get(pk=endpoint.pk)
    assert row.owner == worker.owner
    assert row.lease_expires_at > before + timedelta(seconds=TTL), "not renewed meanwhile"
    assert len(open_to(peer, token)) == 1, "the connection was closed for lack of a renewal"
    assert len([c for c in peer.connections if token in c.path]) == 2  # the redial only
    wait_until(
        lambda: EndpointLiveStatus.objects.filter(endpoint=endpoint, connected=True).exists(),
        timeout=10,
        message="the status never reached the database",
    )
    assert peer.most[token] == 1
