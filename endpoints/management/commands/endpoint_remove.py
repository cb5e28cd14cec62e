from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from endpoints.services.endpoint import endpoint_delete
from xiaozhi_hub.terminal_language import in_terminal_language

from ._endpoint_args import resolve_endpoint


class Command(BaseCommand):
    help = "Remove an endpoint (by id or name); the pool closes its connection."

    def add_arguments(self, parser):
        parser.add_argument("endpoint", help="id or name")

    @in_terminal_language
    def handle(self, *args, endpoint, **options):
        target = resolve_endpoint(endpoint)
        endpoint_delete(endpoint_id=target.pk)
        self.stdout.write(
            self.style.SUCCESS(
                _("Removed endpoint %(id)s %(name)s.") % {"id": target.pk, "name": target.name}
            )
        )
