"""The `sync_schedule` health check: has beat ticked the chat sync lately?

Beat (`celery -A xiaozhi_hub beat`, or the scheduler thread of `runhub`)
runs with django-celery-beat's DatabaseScheduler, which records each tick in
the schedule row's `last_run_at`. It writes that column only when it syncs,
every three minutes by default; `CELERY_BEAT_SYNC_EVERY = 1` (settings.py)
makes it write after every task it sends, so the column is at most one tick
old while beat lives. Two intervals without a tick mean beat is down (or
stuck) and no sync runs. Only a configured source is synced, so without one
(ESP32_DATABASE_URL, or an enabled Source row with a URL) the check is
`not_configured`. Registered in ChatHistoryConfig.ready(); optional, like the
source itself: /api/health says `degraded`, still 200.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from xiaozhi_hub.health import CheckResult

from .models import Source
from .schedule import SYNC_TASK_NAME
from .sources.registry import source_configured

STALE_AFTER_INTERVALS = 2


def _other_sources() -> bool:
    """Whether an enabled source besides the environment's can be synced (docs/sources.md)."""
    rows = Source.objects.filter(enabled=True, from_environment=False)
    return any(source_configured(source) for source in rows)


def check_sync_schedule() -> CheckResult:
    if settings.SOURCE_DATABASE_ALIAS not in settings.DATABASES and not _other_sources():
        return CheckResult(
            "not_configured",
            False,
            "ESP32_DATABASE_URL is not set and no source added: no sync runs",
        )
    task = PeriodicTask.objects.select_related("interval").filter(name=SYNC_TASK_NAME).first()
    if task is None:
        return CheckResult(
            "error",
            False,
            f"the schedule {SYNC_TASK_NAME!r} is missing: `manage.py migrate` creates it",
        )
    if not task.enabled:
        return CheckResult(
            "not_configured",
            False,
            f"{SYNC_TASK_NAME} is disabled (admin: Periodic tasks); only manual syncs run",
        )
    if task.interval is None:
        return CheckResult(
            "ok", False, f"{SYNC_TASK_NAME} is not an interval schedule; last tick not checked"
        )
    every = timedelta(**{task.interval.period: task.interval.every}).total_seconds()
    now = timezone.now()
    if task.last_run_at is None:
        # Beat counts a task that never ran from its last change (date_changed):
        # two intervals past that with no tick, no beat has run since.
        waited = (now - task.date_changed).total_seconds()
        if waited > STALE_AFTER_INTERVALS * every:
            return CheckResult(
                "error",
                False,
                f"beat has not ticked {SYNC_TASK_NAME} since it was set up {waited:.0f} s ago "
                f"(every {every:g} s): is `celery -A xiaozhi_hub beat` running?",
            )
        return CheckResult("ok", False, f"no tick yet (every {every:g} s)")
    age = (now - task.last_run_at).total_seconds()
    if age > STALE_AFTER_INTERVALS * every:
        return CheckResult(
            "error",
            False,
            f"beat last ticked {SYNC_TASK_NAME} {age:.0f} s ago, over two intervals "
            f"(every {every:g} s): is `celery -A xiaozhi_hub beat` running?",
        )
    return CheckResult("ok", False, f"last tick {max(0.0, age):.0f} s ago (every {every:g} s)")
