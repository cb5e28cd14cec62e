"""The Celery app: `celery -A xiaozhi_hub worker` and `celery -A xiaozhi_hub beat`."""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xiaozhi_hub.settings")

app = Celery("xiaozhi_hub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _schedule_hub_status(sender: Celery, **_kwargs) -> None:
    # Registered here so every process (beat, worker, runhub) sees the same
    # entries; django-celery-beat mirrors them into the admin.
    from django.conf import settings

    sender.add_periodic_task(
        float(settings.HUB_STATUS_INTERVAL),
        sender.signature("xiaozhi_hub.tasks.publish_hub_status"),
        name="hub-status",
    )


@signals.worker_ready.connect
def _start_runtime(**_kwargs) -> None:
    # The background runtime (endpoint pool, ...) lives in the worker's main
    # process and stops with it.
    from .runtime import runtime

    runtime.start()


@signals.worker_shutdown.connect
def _stop_runtime(**_kwargs) -> None:
    from .runtime import runtime

    runtime.stop()
