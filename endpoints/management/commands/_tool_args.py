"""Shared pieces of the MCP server and tool commands (not a command itself)."""

from __future__ import annotations

from django.core.management.base import CommandError
from django.utils.translation import gettext as _

from endpoints.models import Tool


def resolve_tools(names: list[str]) -> list[Tool]:
    """Tools by exposed name (`server__tool`) or id; every name must match."""
    tools, missing = [], []
    for name in names:
        query = Tool.objects.filter(exposed_name=name)
        if name.isdigit():
            query = query | Tool.objects.filter(pk=int(name))
        found = list(query.select_related("server"))
        if found:
            tools.extend(found)
        else:
            missing.append(name)
    if missing:
        raise CommandError(
            _("no tool named %(names)s (see `manage.py tools_list --all`); nothing was changed")
            % {"names": ", ".join(missing)}
        )
    return tools


def when(iso: str | None) -> str:
    """An ISO time from a selector dict, to the second (UTC)."""
    return iso[:19].replace("T", " ") if iso else "-"
