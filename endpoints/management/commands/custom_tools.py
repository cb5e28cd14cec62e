"""manage.py custom_tools list|show|enable|disable|delete: the tools the hub defines itself."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from endpoints.models import CustomTool
from endpoints.selectors.custom_tool import custom_tool_dict, custom_tool_find, custom_tool_list
from endpoints.services.custom_tool import custom_tool_delete, custom_tool_set_enabled
from xiaozhi_hub.terminal_language import in_terminal_language

from ._endpoint_args import table
from ._tool_args import when


class Command(BaseCommand):
    help = (
        "Custom tools (xiaozhi-client's customMCP tools): list them, show one (secrets "
        "masked), enable, disable or delete them by name or id. Add and change them in "
        "the admin, through /api/custom-tools, or with `manage.py import_xiaozhi_config`."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        listing = actions.add_parser("list", help="every custom tool")
        listing.add_argument("--kind", help="only this kind (http, proxy, mcp, chain, script)")
        show = actions.add_parser("show", help="one tool as JSON, secrets masked")
        show.add_argument("tool", help="name or id")
        for action in ("enable", "disable", "delete"):
            sub = actions.add_parser(action, help=f"{action} tools")
            sub.add_argument("tools", nargs="+", help="names or ids")

    @in_terminal_language
    def handle(self, *args, action, **options):
        if action == "list":
            self._list(options.get("kind"))
        elif action == "show":
            tool = self._resolve([options["tool"]])[0]
            self.stdout.write(json.dumps(custom_tool_dict(tool), ensure_ascii=False, indent=2))
        elif action in ("enable", "disable"):
            tools = self._resolve(options["tools"])
            enabled = action == "enable"
            scripts = [t.name for t in tools if t.runs_commands]
            if scripts:
                # A command has the machine's rights already; say what runs commands.
                self.stderr.write(
                    _("note: %(names)s run(s) commands on the worker")
                    % {"names": ", ".join(scripts)}
                )
            functions = [t.name for t in tools if t.kind == "function" and enabled]
            changed = custom_tool_set_enabled(tool_ids=[t.pk for t in tools], enabled=enabled)
            if functions:
                self.stderr.write(
                    _("%(names)s stay(s) disabled: a JavaScript function cannot run in the hub")
                    % {"names": ", ".join(functions)}
                )
            self.stdout.write(_("%(count)s tool(s) changed.") % {"count": changed})
        elif action == "delete":
            tools = self._resolve(options["tools"])
            for tool in tools:
                custom_tool_delete(tool_id=tool.pk)
            self.stdout.write(_("%(count)s tool(s) deleted.") % {"count": len(tools)})

    def _list(self, kind: str | None) -> None:
        tools = custom_tool_list(kind=kind)
        if not tools:
            self.stdout.write(_("No custom tools."))
            return
        rows = [
            [
                t["id"],
                t["name"],
                t["kind"],
                _("yes") if t["enabled"] else _("no"),
                t["usageCount"],
                when(t["lastUsedAt"]),
                (t["disabledReason"] or t["lastError"] or "-")[:60],
            ]
            for t in tools
        ]
        header = [
            _("id"),
            _("name"),
            _("kind"),
            _("enabled"),
            _("calls"),
            _("last used"),
            _("note"),
        ]
        self.stdout.write(table(rows, header))

    @staticmethod
    def _resolve(refs: list[str]) -> list[CustomTool]:
        tools, missing = [], []
        for ref in refs:
            tool = custom_tool_find(ref=ref)
            if tool is None:
                missing.append(ref)
            else:
                tools.append(tool)
        if missing:
            raise CommandError(
                _("no custom tool named %(names)s (see `manage.py custom_tools list`)")
                % {"names": ", ".join(missing)}
            )
        return tools
