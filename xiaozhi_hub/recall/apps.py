from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RecallConfig(AppConfig):
    name = "xiaozhi_hub.recall"
    label = "recall"
    verbose_name = _("Assistant memory")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from endpoints.worker.extra_tools import register_extra_tools

        from .provider import HistoryToolProvider

        register_extra_tools(HistoryToolProvider.namespace, HistoryToolProvider)
