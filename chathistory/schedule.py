"""The beat entry of the chat sync (xiaozhi_hub/schedules.py: made once, edits stick)."""

from django.conf import settings

from xiaozhi_hub.schedules import ensure_interval_task

SYNC_TASK_NAME = "chat-history-sync"
SYNC_TASK = "chathistory.tasks.sync_chat_history"


def ensure_sync_schedule(sender=None, using: str = "default", **kwargs) -> None:
    if using != "default":
        return
    ensure_interval_task(
        using=using,
        name=SYNC_TASK_NAME,
        task=SYNC_TASK,
        every=settings.HUB_SYNC_INTERVAL,
        kwargs={"trigger": "beat"},
        description="Copies new chat history from xiaozhi-esp32-server (chathistory).",
    )
