from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from endpoints.selectors.endpoint import endpoint_list
from xiaozhi_hub.terminal_language import in_terminal_language

from ._endpoint_args import table


class Command(BaseCommand):
    help = "List the configured endpoints (URLs masked)."

    @in_terminal_language
    def handle(self, *args, **options):
        endpoints = endpoint_list()
        if not endpoints:
            self.stdout.write(_("No endpoints configured. Add one with `manage.py endpoint_add`."))
            return
        rows = [
            [
                e["id"],
                e["name"],
                "yes" if e["enabled"] else "no",
                e["url"],
                e["tokenExpiry"],
                ", ".join(f"{k}={v}" for k, v in e["options"].items()) or "-",
            ]
            for e in endpoints
        ]
        self.stdout.write(table(rows, ["id", "name", "enabled", "url", "token", "overrides"]))
