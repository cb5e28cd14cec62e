from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from endpoints.pool_requests.endpoint import endpoint_reconnect

from ._endpoint_args import resolve_endpoint


class Command(BaseCommand):
    help = (
        "Drop and redial one endpoint now (also resumes a failed one). Waits for the "
        "worker holding it to confirm; fails (exit 1) when no running pool receives it, "
        "e.g. from a second terminal next to `runhub` without REDIS_URL."
    )

    def add_arguments(self, parser):
        parser.add_argument("endpoint", help="id or name")

    def handle(self, *args, endpoint, **options):
        target = resolve_endpoint(endpoint)
        answer = endpoint_reconnect(endpoint_id=target.pk)
        names = {"id": target.pk, "name": target.name}
        if not answer["done"]:
            message = _("%(id)s %(name)s was not reconnected: %(error)s")
            raise CommandError(message % {**names, "error": answer["error"]})
        message = _("Reconnecting %(id)s %(name)s now (worker %(worker)s).")
        self.stdout.write(message % {**names, "worker": answer["worker"]})
