from django.core.management.base import BaseCommand

from endpoints.selectors.mcp_server import mcp_server_list

from ._endpoint_args import table


class Command(BaseCommand):
    help = "List the upstream MCP servers: transport, state, tools enabled/total (secrets masked)."

    def handle(self, *args, **options):
        servers = mcp_server_list()
        if not servers:
            self.stdout.write(
                "No MCP servers configured. Add them in the admin, through "
                "POST /api/mcp-servers, or with `manage.py import_xiaozhi_config`."
            )
            return
        rows = [
            [
                s["id"],
                s["name"],
                s["transport"],
                "yes" if s["enabled"] else "no",
                s["state"],
                f"{s['toolsEnabled']}/{s['toolCount']}",
                s["target"],
                (s["lastError"] or "-")[:60],
            ]
            for s in servers
        ]
        header = ["id", "name", "transport", "enabled", "state", "tools", "target", "last error"]
        self.stdout.write(table(rows, header))
