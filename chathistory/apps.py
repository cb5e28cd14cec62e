from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ChatHistoryConfig(AppConfig):
    name = "chathistory"
    verbose_name = "Chat history"

    def ready(self) -> None:
        from .schedule import ensure_sync_schedule

        post_migrate.connect(ensure_sync_schedule, sender=self, dispatch_uid="chat-sync-schedule")
