from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from endpoints.services.endpoint import endpoint_create
from xiaozhi_hub.terminal_language import in_terminal_language

from ._endpoint_args import (
    add_option_arguments,
    add_profile_argument,
    option_values,
    read_url,
    validation_error,
)


class Command(BaseCommand):
    help = (
        "Add an endpoint; the running pool connects to it at once. "
        "Pass URL as - to read it from stdin (keeps the token out of the process list)."
    )

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("url", help="ws:// or wss:// URL with its token, or - for stdin")
        parser.add_argument("--disabled", action="store_true", help="add it switched off")
        parser.add_argument(
            "--no-health-check", action="store_true", help="do not send health-check pings"
        )
        add_profile_argument(parser)
        add_option_arguments(parser)

    @in_terminal_language
    def handle(self, *args, name, url, disabled, no_health_check, **options):
        try:
            endpoint = endpoint_create(
                name=name,
                url=read_url(url),
                enabled=not disabled,
                health_check_enabled=not no_health_check,
                options=option_values(options),
            )
        except ValidationError as exc:
            raise validation_error(exc) from None
        self.stdout.write(
            self.style.SUCCESS(
                _("Added endpoint %(id)s %(name)s: %(url)s")
                % {"id": endpoint.pk, "name": endpoint.name, "url": endpoint.masked_url}
            )
        )
