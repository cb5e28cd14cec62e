from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from endpoints.options import CONNECTION_OPTIONS
from endpoints.services.endpoint import endpoint_update
from xiaozhi_hub.terminal_language import in_terminal_language

from ._endpoint_args import (
    add_option_arguments,
    add_profile_argument,
    option_values,
    read_url,
    resolve_endpoint,
    validation_error,
)


class Command(BaseCommand):
    help = "Change an endpoint (by id or name); only that endpoint's connection restarts."

    def add_arguments(self, parser):
        parser.add_argument("endpoint", help="id or name")
        parser.add_argument("--name", dest="new_name")
        parser.add_argument("--url", help="new URL, or - to read it from stdin")
        state = parser.add_mutually_exclusive_group()
        state.add_argument("--enable", dest="enabled", action="store_true", default=None)
        state.add_argument("--disable", dest="enabled", action="store_false", default=None)
        checks = parser.add_mutually_exclusive_group()
        checks.add_argument("--health-check", dest="checks", action="store_true", default=None)
        checks.add_argument("--no-health-check", dest="checks", action="store_false", default=None)
        add_profile_argument(parser)
        add_option_arguments(parser)
        parser.add_argument(
            "--clear",
            action="append",
            default=[],
            choices=[spec.field for spec in CONNECTION_OPTIONS],
            metavar="OPTION",
            help="drop an override (use the global value); repeatable",
        )

    @in_terminal_language
    def handle(self, *args, endpoint, new_name, url, enabled, checks, clear, **options):
        target = resolve_endpoint(endpoint)
        data = option_values(options)
        data.update({field: None for field in clear})
        if new_name is not None:
            data["name"] = new_name
        if url is not None:
            data["url"] = read_url(url)
        if enabled is not None:
            data["enabled"] = enabled
        if checks is not None:
            data["health_check_enabled"] = checks
        if not data:
            raise CommandError(_("nothing to change: pass at least one option (see --help)"))
        try:
            updated = endpoint_update(endpoint_id=target.pk, data=data)
        except ValidationError as exc:
            raise validation_error(exc) from None
        self.stdout.write(
            self.style.SUCCESS(
                _("Updated endpoint %(id)s %(name)s.") % {"id": updated.pk, "name": updated.name}
            )
        )
