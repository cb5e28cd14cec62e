from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class ChatHistoryConfig(AppConfig):
    name = "chathistory"
    verbose_name = _("Chat history")

    def ready(self) -> None:
        from xiaozhi_hub.health import register_check

        from .health import check_sync_schedule
        from .schedule import ensure_sync_schedule

        register_check("sync_schedule", check_sync_schedule, required=False)

        post_migrate.connect(ensure_sync_schedule, sender=self, dispatch_uid="chat-sync-schedule")
