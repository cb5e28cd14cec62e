"""The `pool_workers` health check: is every enabled endpoint held by a live worker?

A pool worker (a Celery worker, or `runhub`'s own runtime) writes its
heartbeat into `PoolWorker` and renews its endpoint leases every TTL/3
(endpoints/lease.py). A worker whose heartbeat is older than the lease TTL
is dead, and so are its leases once they expire: the endpoints it held sit
in `connecting` until another worker claims them. Registered in
EndpointsConfig.ready(); optional, so a dead worker makes /api/health
`degraded` (still 200: the web process keeps serving) rather than `error`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Max, Q
from django.utils import timezone

from xiaozhi_hub.health import CheckResult

from .models import Endpoint, PoolWorker

SHOWN = 3  # names listed in a detail; the rest are counted


def _listed(names: list[str], total: int) -> str:
    more = f" and {total - len(names)} more" if total > len(names) else ""
    return ", ".join(names) + more


def _ago(moment: datetime, now: datetime) -> str:
    return f"{max(0.0, (now - moment).total_seconds()):.0f} s ago"


def check_pool_workers() -> CheckResult:
    ttl = settings.HUB_POOL_LEASE_TTL
    now = timezone.now()
    live = list(
        PoolWorker.objects.filter(heartbeat_at__gte=now - timedelta(seconds=ttl))
        .order_by("-heartbeat_at")
        .values_list("name", "heartbeat_at")
    )
    workers = f"{len(live)} live pool worker{'s' if len(live) != 1 else ''}"
    if live:
        shown = [f"{name} (heartbeat {_ago(beat, now)})" for name, beat in live[:SHOWN]]
        workers += ": " + _listed(shown, len(live))
    enabled = Endpoint.objects.filter(enabled=True)
    total = enabled.count()
    if not total:
        return CheckResult("ok", False, f"no enabled endpoints; {workers}")

    held = Q(owner__in=[name for name, _ in live]) & Q(lease_expires_at__gte=now)
    # An endpoint enabled or edited less than a TTL ago may not be claimed yet.
    orphans = enabled.exclude(held).filter(updated_at__lt=now - timedelta(seconds=ttl))
    orphan_count = orphans.count()
    if not orphan_count:
        return CheckResult("ok", False, f"{total} enabled endpoints held; {workers}")

    if not live:
        last = PoolWorker.objects.aggregate(last=Max("heartbeat_at"))["last"]
        seen = f"the last heartbeat was {_ago(last, now)}" if last else "none is registered"
        return CheckResult(
            "error",
            False,
            f"{total} endpoints enabled but no live pool worker holds them ({seen}; a worker "
            f"is live while its heartbeat is under HUB_POOL_LEASE_TTL={ttl} s old): is "
            "`celery -A xiaozhi_hub worker` (or `manage.py runhub`) running?",
        )
    names = list(orphans.values_list("name", flat=True)[:SHOWN])
    return CheckResult(
        "error",
        False,
        f"{orphan_count} of {total} enabled endpoints held by no live worker for over "
        f"{ttl} s: {_listed(names, orphan_count)}; {workers}",
    )
