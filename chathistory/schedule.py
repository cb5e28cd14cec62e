"""The beat entry of the chat sync, created once so an operator's edit in the admin sticks.

django-celery-beat's `PeriodicTask` row is the schedule. It is created with
get_or_create after `migrate` (post_migrate); later changes of its interval,
or disabling it, are never overwritten, not even by a beat restart.
"""

import json

from django.conf import settings

SYNC_TASK_NAME = "chat-history-sync"
SYNC_TASK = "chathistory.tasks.sync_chat_history"


def ensure_sync_schedule(sender=None, using: str = "default", **kwargs) -> None:
    if using != "default":
        return
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    every = settings.HUB_SYNC_INTERVAL
    if PeriodicTask.objects.using(using).filter(name=SYNC_TASK_NAME).exists():
        return
    interval, _ = IntervalSchedule.objects.using(using).get_or_create(
        every=every, period=IntervalSchedule.SECONDS
    )
    PeriodicTask.objects.using(using).get_or_create(
        name=SYNC_TASK_NAME,
        defaults={
            "interval": interval,
            "task": SYNC_TASK,
            "kwargs": json.dumps({"trigger": "beat"}),
            # A tick still queued when the next one is due is dropped, not piled up.
            "expire_seconds": every,
            "description": "Copies new chat history from xiaozhi-esp32-server (chathistory).",
        },
    )
