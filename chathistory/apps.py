from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class ChatHistoryConfig(AppConfig):
    name = "chathistory"
    verbose_name = _("Chat history")

    def ready(self) -> None:
        from xiaozhi_hub.health import register_check

        from .health import check_sync_schedule
        from .retention.schedule import ensure_retention_schedule
        from .schedule import ensure_sync_schedule
        from .source_services import ensure_environment_source

        register_check("sync_schedule", check_sync_schedule, required=False)

        post_migrate.connect(ensure_sync_schedule, sender=self, dispatch_uid="chat-sync-schedule")
        post_migrate.connect(ensure_environment_source, sender=self, dispatch_uid="chat-env-source")
        post_migrate.connect(
            ensure_retention_schedule, sender=self, dispatch_uid="chat-retention-schedule"
        )
