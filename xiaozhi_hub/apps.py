from django.apps import AppConfig


class HubConfig(AppConfig):
    name = "xiaozhi_hub"
    verbose_name = "xiaozhi-hub"

    def ready(self) -> None:
        from django.conf import settings
        from django.contrib import admin

        # Loaded with Django so that @shared_task binds to the hub's app in
        # every process (daphne, runhub, commands), not Celery's default app.
        from . import celery  # noqa: F401

        admin.site.site_header = f"{settings.HUB_NAME} administration"
        admin.site.site_title = settings.HUB_NAME
        admin.site.index_title = f"{settings.HUB_NAME}: endpoints, tools and chat history"
