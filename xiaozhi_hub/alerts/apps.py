from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class AlertsConfig(AppConfig):
    name = "xiaozhi_hub.alerts"
    label = "alerts"
    verbose_name = _("Alerts")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from .schedule import ensure_alert_schedule

        post_migrate.connect(ensure_alert_schedule, sender=self, dispatch_uid="alert-schedule")
