"""Beat entries made once, after `migrate`, so that an operator's edit in the admin sticks.

django-celery-beat's `PeriodicTask` row is the schedule (run by `celery beat` and by
runhub's embedded beat alike). It is created with get_or_create; later changes of
its interval, or disabling it, are never overwritten, not even by a beat restart.
"""

from __future__ import annotations

import json


def ensure_interval_task(
    *, using: str, name: str, task: str, every: int, description: str, kwargs: dict | None = None
) -> None:
    """Create the PeriodicTask `name` running `task` every `every` seconds, unless it exists."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    if PeriodicTask.objects.using(using).filter(name=name).exists():
        return
    interval, _ = IntervalSchedule.objects.using(using).get_or_create(
        every=every, period=IntervalSchedule.SECONDS
    )
    PeriodicTask.objects.using(using).get_or_create(
        name=name,
        defaults={
            "interval": interval,
            "task": task,
            "kwargs": json.dumps(kwargs or {}),
            # A tick still queued when the next one is due is dropped, not piled up.
            "expire_seconds": every,
            "description": description,
        },
    )


def ensure_crontab_task(
    *,
    using: str,
    name: str,
    task: str,
    minute: str,
    hour: str,
    description: str,
    kwargs: dict | None = None,
    expire_seconds: int | None = None,
) -> None:
    """Create the PeriodicTask `name` running `task` at `hour`:`minute` (crontab fields,
    in CELERY_TIMEZONE), every day, unless it exists: as ensure_interval_task, edits stick."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTask

    if PeriodicTask.objects.using(using).filter(name=name).exists():
        return
    crontab, _ = CrontabSchedule.objects.using(using).get_or_create(
        minute=minute,
        hour=hour,
        day_of_week="*",
        day_of_month="*",
        month_of_year="*",
        timezone="UTC",
    )
    PeriodicTask.objects.using(using).get_or_create(
        name=name,
        defaults={
            "crontab": crontab,
            "task": task,
            "kwargs": json.dumps(kwargs or {}),
            "expire_seconds": expire_seconds,
            "description": description,
        },
    )
