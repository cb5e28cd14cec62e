from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EndpointsConfig(AppConfig):
    name = "endpoints"
    verbose_name = _("Endpoint pool")

    def ready(self) -> None:
        from django.conf import settings

        from xiaozhi_hub.health import register_check
        from xiaozhi_hub.runtime import runtime

        from .health import check_pool_workers

        register_check("pool_workers", check_pool_workers, required=False)
        if settings.HUB_POOL_ENABLED:
            from .worker import run_endpoint_pool

            # Runs wherever the runtime starts: the Celery worker and runhub.
            runtime.register("endpoint-pool", run_endpoint_pool)
