from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from endpoints.services.mcp_server import tool_update
from xiaozhi_hub.terminal_language import in_terminal_language

from ._tool_args import resolve_tools


class Command(BaseCommand):
    help = (
        "Override the description the assistant sees for a tool; an empty string "
        "clears the override (the upstream's description is shown again)."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="exposed name (server__tool)")
        parser.add_argument("description", help='the text, or "" to clear')

    @in_terminal_language
    def handle(self, *args, name, description, **options):
        (tool,) = resolve_tools([name])[:1]
        tool_update(tool_id=tool.pk, data={"description_override": description})
        if description:
            self.stdout.write(
                self.style.SUCCESS(_("Description of %(tool)s set.") % {"tool": tool.exposed_name})
            )
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    _("Description override of %(tool)s cleared.") % {"tool": tool.exposed_name}
                )
            )
