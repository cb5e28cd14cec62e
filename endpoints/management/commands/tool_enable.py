from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from endpoints.services.mcp_server import tool_set_enabled
from xiaozhi_hub.terminal_language import in_terminal_language

from ._tool_args import resolve_tools


class Command(BaseCommand):
    help = "Enable tools (by exposed name server__tool); endpoints see them at once."
    enabled = True

    def add_arguments(self, parser):
        parser.add_argument("names", nargs="+", metavar="NAME")

    @in_terminal_language
    def handle(self, *args, names, **options):
        tools = resolve_tools(names)
        changed = tool_set_enabled(tool_ids=[t.pk for t in tools], enabled=self.enabled)
        values = {"count": changed, "names": ", ".join(t.exposed_name for t in tools)}
        text = (
            _("Enabled %(count)s tool(s): %(names)s")
            if self.enabled
            else _("Disabled %(count)s tool(s): %(names)s")
        ) % values
        if changed < len(tools):
            text += " " + _("(%(count)s already were)") % {"count": len(tools) - changed}
        self.stdout.write(self.style.SUCCESS(text))
