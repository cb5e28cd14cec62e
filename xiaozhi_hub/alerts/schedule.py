"""The beat entry of the alert evaluator, created once so an operator's edit in the admin
sticks (the same pattern as chathistory/schedule.py): a django-celery-beat
PeriodicTask every HUB_ALERT_INTERVAL seconds, run by `celery beat` and by runhub's
embedded beat alike."""

from django.conf import settings

from xiaozhi_hub.schedules import ensure_interval_task

ALERT_TASK_NAME = "alert-rules"
ALERT_TASK = "xiaozhi_hub.alerts.tasks.evaluate_alerts"


def ensure_alert_schedule(sender=None, using: str = "default", **kwargs) -> None:
    if using != "default":
        return
    ensure_interval_task(
        using=using,
        name=ALERT_TASK_NAME,
        task=ALERT_TASK,
        every=settings.HUB_ALERT_INTERVAL,
        description="Evaluates the alert rules and sends notifications (alerts).",
    )
