"""Ownership of endpoints across workers: a lease per endpoint row.

Exactly one worker may hold a live connection to an endpoint (two connections
with one token make the relay drop or replace tools). A worker claims
endpoints with a conditional UPDATE (free, expired or already ours) and reads
back what it got, so of two workers racing for the same row only one wins
(healthchecks' `sendalerts` pattern); it renews all its leases with one
UPDATE every TTL/3. A worker that dies stops renewing: its leases expire and
the survivors claim the rows.

Clocks: every lease and heartbeat time is the database server's clock
(`DbNow`, in the statement itself), never a worker's, so workers on several
machines need no clock agreement.

Spreading: every worker heartbeats into `PoolWorker`; a worker's fair share is
ceil(enabled endpoints / live workers). It claims free endpoints up to its
share (a few statements for the whole batch) and gives back what it holds
beyond it (after closing the connection), so a worker that joins gets its
share within a renew period or two and only that share moves.

Start-up: a worker that has just registered waits until no worker has
registered for `settle` seconds (at most `SETTLE_CAP` TTLs) before its first
claim, so workers started together count each other first and each claims
only its share, instead of the first one claiming everything and giving most
of it back. Among workers that claim at once, each prefers its own block of
the endpoint ids (by its rank among the live workers), so their batches do
not collide.
"""

from __future__ import annotations

import math
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import BooleanField, DateTimeField, ExpressionWrapper, Q
from django.db.models.functions import Now

from .models import Endpoint, PoolWorker

SETTLE_CAP = 2.0  # TTLs: the longest a new worker waits for others to register
PRUNE_AFTER = 2.0  # TTLs: a worker row silent this long is deleted (its leases lapsed)
CLAIM_ATTEMPTS = 4  # claim statements per round when racing workers take rows first


class DbNow(Now):
    """The database server's clock, in UTC (Django stores naive UTC on MySQL and SQLite).

    CURRENT_TIMESTAMP on MySQL/MariaDB is the session's time zone, which Django
    does not set; UTC_TIMESTAMP is UTC whatever the server's zone.
    """

    def as_mysql(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, template="UTC_TIMESTAMP(6)", **extra_context)


def db_time(seconds: float = 0.0) -> ExpressionWrapper:
    """The database's now, plus `seconds` (negative: in the past)."""
    return ExpressionWrapper(DbNow() + timedelta(seconds=seconds), output_field=DateTimeField())


def worker_identity() -> str:
    """Unique per process run: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class LeaseRound:
    held: list[int] = field(default_factory=list)  # enabled endpoints this worker now holds
    release: list[int] = field(default_factory=list)  # to close, then give back
    claimed: list[int] = field(default_factory=list)  # newly claimed in this round
    share: int = 0
    workers: int = 1
    settling: bool = False  # waited for other workers to register; nothing claimed


def _lapsed() -> Q:
    """Rows no live lease covers."""
    return (
        Q(owner__isnull=True) | Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=DbNow())
    )


def worker_heartbeat(*, name: str) -> None:
    if not PoolWorker.objects.filter(name=name).update(heartbeat_at=DbNow()):
        hostname, pid = name.split(":")[:2]
        PoolWorker.objects.create(
            name=name, hostname=hostname, pid=int(pid), started_at=DbNow(), heartbeat_at=DbNow()
        )


def live_workers(*, ttl: float, settle: float = 0.0) -> list[tuple[str, bool, bool]]:
    """(name, registered within `settle` s, registered over SETTLE_CAP TTLs ago) of every
    worker whose heartbeat is under `ttl` seconds old, by name."""
    recent = Q(started_at__gt=db_time(-settle))
    overdue = Q(started_at__lte=db_time(-SETTLE_CAP * ttl))
    return list(
        PoolWorker.objects.filter(heartbeat_at__gte=db_time(-ttl))
        .annotate(
            recent=ExpressionWrapper(recent, output_field=BooleanField()),
            overdue=ExpressionWrapper(overdue, output_field=BooleanField()),
        )
        .order_by("name")
        .values_list("name", "recent", "overdue")
    )


def live_worker_count(*, ttl: float) -> int:
    return PoolWorker.objects.filter(heartbeat_at__gte=db_time(-ttl)).count()


def lease_claim(*, owner: str, endpoint_ids: list[int], ttl: float) -> list[int]:
    """Take those of `endpoint_ids` that are enabled and free, expired or already ours;
    returns the ids now held (two statements: the conditional UPDATE, the read back)."""
    if not endpoint_ids:
        return []
    taken = (
        Endpoint.objects.filter(pk__in=endpoint_ids, enabled=True)
        .filter(_lapsed() | Q(owner=owner))
        .update(owner=owner, lease_expires_at=db_time(ttl))
    )
    if taken == len(endpoint_ids):
        return sorted(endpoint_ids)
    if not taken:
        return []
    return sorted(
        Endpoint.objects.filter(pk__in=endpoint_ids, owner=owner).values_list("id", flat=True)
    )


def _preferred(free: list[int], enabled: list[int], *, rank: int, workers: int) -> list[int]:
    """Free ids in this worker's order: its own block of the enabled ids first (workers
    claiming together at start-up take disjoint blocks), then the other free ids
    strided by rank (survivors taking a dead worker's rows spread over them)."""
    share = math.ceil(len(enabled) / workers)
    block = set(enabled[rank * share : (rank + 1) * share])
    own = [pk for pk in free if pk in block]
    rest = [pk for pk in free if pk not in block]
    strided = rest[rank % workers :: workers]
    picked = set(strided)
    return own + strided + [pk for pk in rest if pk not in picked]


def lease_round(*, owner: str, ttl: float, settle: float = 0.0) -> LeaseRound:
    """One renew round: heartbeat, renew, pick the excess to give back, claim up to the
    share (not while `settle` says other workers may still be registering)."""
    worker_heartbeat(name=owner)
    workers_prune(ttl=ttl)
    live = live_workers(ttl=ttl, settle=settle)
    names = [name for name, _, _ in live]
    result = LeaseRound(workers=max(1, len(live)))
    mine = _rows_of(owner)
    held = sorted(pk for pk, enabled in mine if enabled)
    result.release = [pk for pk, enabled in mine if not enabled]
    # The renewal: one statement for every lease this worker holds.
    renewed = Endpoint.objects.filter(pk__in=held, owner=owner, enabled=True)
    if held and renewed.update(lease_expires_at=db_time(ttl)) != len(held):
        held = sorted(pk for pk, enabled in _rows_of(owner) if enabled)  # a row went meanwhile

    enabled_total = Endpoint.objects.filter(enabled=True).count()
    result.share = math.ceil(enabled_total / result.workers)
    if len(held) > result.share:
        # Give back the newest first; the oldest stay put.
        result.release += held[result.share :]
        held = held[: result.share]
    me = next((row for row in live if row[0] == owner), None)
    result.settling = bool(
        settle > 0 and any(recent for _, recent, _ in live) and not (me and me[2])
    )
    wanted = result.share - len(held)
    if wanted > 0 and not result.settling:
        rank = names.index(owner) if owner in names else 0
        enabled = list(
            Endpoint.objects.filter(enabled=True).order_by("id").values_list("id", flat=True)
        )
        for _ in range(CLAIM_ATTEMPTS):
            free = list(
                Endpoint.objects.filter(enabled=True)
                .filter(_lapsed())
                .exclude(owner=owner)
                .order_by("id")
                .values_list("id", flat=True)
            )
            batch = _preferred(free, enabled, rank=rank, workers=result.workers)[:wanted]
            got = lease_claim(owner=owner, endpoint_ids=batch, ttl=ttl)
            result.claimed += got
            wanted -= len(got)
            if wanted <= 0 or len(free) <= len(got):
                break
    result.held = sorted(held + result.claimed)
    return result


def _rows_of(owner: str) -> list[tuple[int, bool]]:
    """(id, enabled) of the rows `owner` holds: a plain read, no row locks.

    Writes then name their rows by primary key: an UPDATE filtered on `owner`
    alone would scan (and, on InnoDB, lock) every row of the table, and two
    workers renewing at once would deadlock.
    """
    return list(Endpoint.objects.filter(owner=owner).values_list("id", "enabled"))


def lease_release(*, owner: str, endpoint_ids: list[int] | None = None) -> int:
    """Give back leases (all of them when endpoint_ids is None); only ours are touched."""
    if endpoint_ids is None:
        endpoint_ids = [pk for pk, _ in _rows_of(owner)]
    if not endpoint_ids:
        return 0
    rows = Endpoint.objects.filter(pk__in=endpoint_ids, owner=owner)
    return rows.update(owner=None, lease_expires_at=None)


def worker_forget(*, name: str) -> None:
    lease_release(owner=name)
    PoolWorker.objects.filter(name=name).delete()


def workers_prune(*, ttl: float) -> int:
    """Delete worker rows silent for PRUNE_AFTER TTLs: a crashed worker leaves its row
    behind, and its leases lapsed a TTL after its last heartbeat."""
    silent = PoolWorker.objects.filter(heartbeat_at__lt=db_time(-PRUNE_AFTER * ttl))
    # Found by a plain read, deleted by primary key: a DELETE over the heartbeat index
    # would lock index ranges that the other workers' heartbeats write (deadlocks).
    dead = list(silent.values_list("id", flat=True))
    if not dead:
        return 0
    deleted, _ = silent.filter(pk__in=dead).delete()
    return deleted
