from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from endpoints.models import McpServer
from endpoints.selectors.custom_tool import custom_tool_list
from endpoints.selectors.mcp_server import tool_list
from xiaozhi_hub.terminal_language import in_terminal_language

from ._endpoint_args import table
from ._tool_args import when


def clash_note(tool: dict) -> str:
    shadowed_by = tool["enabled"] and tool["shadowedBy"]
    return f"not offered: name clash with {shadowed_by!r}" if shadowed_by else ""


class Command(BaseCommand):
    help = (
        "List the aggregated tools with usage, then the custom tools (without --server). By "
        "default only the enabled tools the servers currently list; --all shows disabled "
        "and no longer listed ones too."
    )

    def add_arguments(self, parser):
        parser.add_argument("--server", help="only this server (id or name)")
        parser.add_argument("--all", action="store_true", help="include disabled/unlisted tools")

    @in_terminal_language
    def handle(self, *args, server, all, **options):
        if server and not (
            McpServer.objects.filter(name=server).exists()
            or (server.isdigit() and McpServer.objects.filter(pk=int(server)).exists())
        ):
            raise CommandError(_("no MCP server with id or name %(server)r") % {"server": server})
        tools = tool_list(server=server)
        if not all:
            tools = [t for t in tools if t["enabled"] and t["available"]]
        if not server:  # custom tools: served under their own name, always "available"
            custom = [t for t in custom_tool_list() if all or t["enabled"]]
            tools += [
                {**t, "available": t["kind"] != "function", "shadowedBy": None} for t in custom
            ]
        if not tools:
            self.stdout.write(_("No tools.") if all else _("No tools. (--all shows every tool)"))
            return
        rows = [
            [
                t["name"],
                "yes" if t["enabled"] else "no",
                "yes" if t["available"] else "no",
                t["usageCount"],
                when(t["lastUsedAt"]),
                (clash_note(t) or t["lastError"] or "-")[:60],
            ]
            for t in tools
        ]
        header = ["tool", "enabled", "available", "calls", "last used", "last error"]
        self.stdout.write(table(rows, header))
