"""The beat row of the chat sync: created once, and an operator's edit is never overwritten."""

from django.core.management import call_command
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from chathistory.schedule import SYNC_TASK, SYNC_TASK_NAME, ensure_sync_schedule


def test_created_once_with_the_configured_interval(db, settings):
    PeriodicTask.objects.filter(name=SYNC_TASK_NAME).delete()
    settings.HUB_SYNC_INTERVAL = 45

    ensure_sync_schedule()
    ensure_sync_schedule()

    task = PeriodicTask.objects.get(name=SYNC_TASK_NAME)
    assert (task.task, task.enabled, task.expire_seconds) == (SYNC_TASK, True, 45)
    assert (task.interval.every, task.interval.period) == (45, IntervalSchedule.SECONDS)
    assert task.kwargs == '{"trigger": "beat"}'


def test_an_operators_edit_survives_another_migrate(db):
    PeriodicTask.objects.filter(name=SYNC_TASK_NAME).delete()
    ensure_sync_schedule()
    task = PeriodicTask.objects.get(name=SYNC_TASK_NAME)
    slower, _ = IntervalSchedule.objects.get_or_create(every=120, period=IntervalSchedule.SECONDS)
    task.interval, task.enabled = slower, False
    task.save()

    call_command("migrate", verbosity=0)  # sends post_migrate, as every deploy does

    assert PeriodicTask.objects.filter(name=SYNC_TASK_NAME).count() == 1
    task = PeriodicTask.objects.get(name=SYNC_TASK_NAME)
    assert (task.interval.every, task.enabled) == (120, False)


def test_only_the_default_database_gets_the_row(db):
    PeriodicTask.objects.filter(name=SYNC_TASK_NAME).delete()
    ensure_sync_schedule(using="esp32")
    assert not PeriodicTask.objects.filter(name=SYNC_TASK_NAME).exists()
