"""The nightly beat entry of the retention pass (xiaozhi_hub/schedules.py: made once after
`migrate`, an operator's edit in the admin sticks). Connected in chathistory/apps.py."""

from __future__ import annotations

from django.conf import settings

from xiaozhi_hub.schedules import ensure_crontab_task

from .tasks import TASK

RETENTION_TASK_NAME = "chat-history-retention"
DEFAULT_TIME = "03:30"  # UTC


def nightly_time(text: str) -> tuple[int, int]:
    """(hour, minute) of "HH:MM"; ValueError for anything else."""
    hour, sep, minute = str(text).strip().partition(":")
    if not (sep and hour.isdigit() and minute.isdigit()):
        raise ValueError(f"HUB_RETENTION_TIME must be HH:MM (UTC), not {text!r}")
    if not (0 <= int(hour) < 24 and 0 <= int(minute) < 60):
        raise ValueError(f"HUB_RETENTION_TIME must be HH:MM (UTC), not {text!r}")
    return int(hour), int(minute)


def ensure_retention_schedule(sender=None, using: str = "default", **kwargs) -> None:
    if using != "default":
        return
    hour, minute = nightly_time(settings.HUB_RETENTION_TIME)
    ensure_crontab_task(
        using=using,
        name=RETENTION_TASK_NAME,
        task=TASK,
        minute=str(minute),
        hour=str(hour),
        kwargs={},
        # A pass still queued a few hours later is dropped: the next night takes over.
        expire_seconds=6 * 3600,
        description="Deletes chat history older than the retention policies keep (chathistory).",
    )
