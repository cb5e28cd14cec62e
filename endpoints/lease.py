"""Ownership of endpoints across workers: a lease per endpoint row.

Exactly one worker may hold a live connection to an endpoint (two connections
with one token make the relay drop or replace tools). A worker claims an
endpoint with a conditional UPDATE and checks the row count, so of two
workers racing for the same row only one wins (healthchecks' `sendalerts`
pattern); it renews its leases every TTL/3. A worker that dies stops
renewing: its leases expire and the survivors claim the rows.

Spreading: every worker heartbeats into `PoolWorker`; a worker's fair share is
ceil(enabled endpoints / live workers). It claims free endpoints up to its
share and gives back what it holds beyond it (after closing the connection),
so a worker that joins gets endpoints within a renew period or two.

Clocks: lease times are written with each worker's clock; workers on several
machines need synchronised clocks (NTP), which they have anyway for TLS.
"""

from __future__ import annotations

import math
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from .models import Endpoint, PoolWorker


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


def _free(now: datetime) -> Q:
    return Q(owner__isnull=True) | Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)


def worker_heartbeat(*, name: str, now: datetime | None = None) -> None:
    now = now or timezone.now()
    updated = PoolWorker.objects.filter(name=name).update(heartbeat_at=now)
    if not updated:
        hostname, pid = name.split(":")[:2]
        PoolWorker.objects.create(
            name=name, hostname=hostname, pid=int(pid), started_at=now, heartbeat_at=now
        )


def live_worker_count(*, ttl: float, now: datetime | None = None) -> int:
    now = now or timezone.now()
    return PoolWorker.objects.filter(heartbeat_at__gte=now - timedelta(seconds=ttl)).count()


def lease_claim(*, owner: str, endpoint_id: int, ttl: float, now: datetime | None = None) -> bool:
    """Take one endpoint if it is free, expired or already ours; True when we hold it."""
    now = now or timezone.now()
    rows = (
        Endpoint.objects.filter(pk=endpoint_id, enabled=True)
        .filter(_free(now) | Q(owner=owner))
        .update(owner=owner, lease_expires_at=now + timedelta(seconds=ttl))
    )
    return rows == 1


def lease_round(*, owner: str, ttl: float, now: datetime | None = None) -> LeaseRound:
    """One renew round: heartbeat, renew, pick the excess to give back, claim up to the share."""
    now = now or timezone.now()
    worker_heartbeat(name=owner, now=now)
    result = LeaseRound(workers=max(1, live_worker_count(ttl=ttl, now=now)))
    Endpoint.objects.filter(owner=owner, enabled=True).update(
        lease_expires_at=now + timedelta(seconds=ttl)
    )
    mine = list(Endpoint.objects.filter(owner=owner).values_list("id", "enabled"))
    held = sorted(pk for pk, enabled in mine if enabled)
    result.release = [pk for pk, enabled in mine if not enabled]

    enabled_total = Endpoint.objects.filter(enabled=True).count()
    result.share = math.ceil(enabled_total / result.workers)
    if len(held) > result.share:
        # Give back the newest first; the oldest stay put.
        result.release += held[result.share :]
        held = held[: result.share]
    wanted = result.share - len(held)
    if wanted > 0:
        free = (
            Endpoint.objects.filter(enabled=True)
            .filter(_free(now))
            .exclude(owner=owner)
            .values_list("id", flat=True)[: wanted * 2]
        )
        for pk in free:
            if len(result.claimed) >= wanted:
                break
            if lease_claim(owner=owner, endpoint_id=pk, ttl=ttl, now=now):
                result.claimed.append(pk)
    result.held = sorted(held + result.claimed)
    return result


def lease_release(*, owner: str, endpoint_ids: list[int] | None = None) -> int:
    """Give back leases (all of them when endpoint_ids is None); only ours are touched."""
    rows = Endpoint.objects.filter(owner=owner)
    if endpoint_ids is not None:
        rows = rows.filter(pk__in=endpoint_ids)
    return rows.update(owner=None, lease_expires_at=None)


def worker_forget(*, name: str) -> None:
    lease_release(owner=name)
    PoolWorker.objects.filter(name=name).delete()


def workers_prune(*, ttl: float, now: datetime | None = None) -> int:
    """Delete worker rows silent for ten TTLs (a crashed worker leaves its row behind)."""
    now = now or timezone.now()
    deleted, _ = PoolWorker.objects.filter(
        heartbeat_at__lt=now - timedelta(seconds=10 * ttl)
    ).delete()
    return deleted
