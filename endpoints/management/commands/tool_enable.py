from django.core.management.base import BaseCommand

from endpoints.services.mcp_server import tool_set_enabled

from ._tool_args import resolve_tools


class Command(BaseCommand):
    help = "Enable tools (by exposed name server__tool); endpoints see them at once."
    enabled = True

    def add_arguments(self, parser):
        parser.add_argument("names", nargs="+", metavar="NAME")

    def handle(self, *args, names, **options):
        tools = resolve_tools(names)
        changed = tool_set_enabled(tool_ids=[t.pk for t in tools], enabled=self.enabled)
        verb = "Enabled" if self.enabled else "Disabled"
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb} {changed} tool(s): {', '.join(t.exposed_name for t in tools)}"
                + (f" ({len(tools) - changed} already were)" if changed < len(tools) else "")
            )
        )
