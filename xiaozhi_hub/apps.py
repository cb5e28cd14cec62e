from django.apps import AppConfig


class HubConfig(AppConfig):
    name = "xiaozhi_hub"
    verbose_name = "xiaozhi-hub"

    def ready(self) -> None:
        from django.conf import settings
        from django.contrib import admin
        from django.utils.text import format_lazy
        from django.utils.translation import gettext_lazy as _

        # Loaded with Django so that @shared_task binds to the hub's app in
        # every process (daphne, runhub, commands), not Celery's default app.
        from . import celery  # noqa: F401

        # Lazy: each page shows them in its own language.
        admin.site.site_header = format_lazy(_("{name} administration"), name=settings.HUB_NAME)
        admin.site.site_title = settings.HUB_NAME
        admin.site.index_title = format_lazy(
            _("{name}: endpoints, tools and chat history"), name=settings.HUB_NAME
        )
