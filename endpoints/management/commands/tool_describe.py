from django.core.management.base import BaseCommand

from endpoints.services.mcp_server import tool_update

from ._tool_args import resolve_tools


class Command(BaseCommand):
    help = (
        "Override the description the assistant sees for a tool; an empty string "
        "clears the override (the upstream's description is shown again)."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="exposed name (server__tool)")
        parser.add_argument("description", help='the text, or "" to clear')

    def handle(self, *args, name, description, **options):
        (tool,) = resolve_tools([name])[:1]
        tool_update(tool_id=tool.pk, data={"description_override": description})
        if description:
            self.stdout.write(self.style.SUCCESS(f"Description of {tool.exposed_name} set."))
        else:
            self.stdout.write(
                self.style.SUCCESS(f"Description override of {tool.exposed_name} cleared.")
            )
