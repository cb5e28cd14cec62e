"""manage.py custom_tools list|show|enable|disable|delete, and custom tools in tools_list."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

from endpoints.models import CustomTool

pytestmark = [pytest.mark.requires_services("mysql"), pytest.mark.django_db]

SECRET = "CmdSeCrEt55"


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.fixture
def tools():
    http = CustomTool.objects.create(
        name="weather",
        kind="http",
        handler={"type": "http", "url": "https://e.x/w", "headers": {"Authorization": SECRET}},
    )
    js = CustomTool.objects.create(
        name="js",
        kind="function",
        enabled=False,
        disabled_reason="a JavaScript function cannot run in the hub",
        handler={"type": "function", "module": "m.js", "function": "f"},
    )
    return http, js


def test_list_show_enable_disable_delete(tools):
    http, js = tools
    listing = run("custom_tools", "list")
    assert "weather" in listing and "http" in listing and "JavaScript function" in listing
    shown = run("custom_tools", "show", "weather")
    assert json.loads(shown)["handler"]["headers"] == {"Authorization": "***"}
    assert SECRET not in shown and SECRET not in listing
    assert "1 tool(s) changed." in run("custom_tools", "disable", "weather")
    assert CustomTool.objects.get(pk=http.pk).enabled is False
    run("custom_tools", "enable", str(http.pk), "js")
    assert CustomTool.objects.get(pk=http.pk).enabled is True
    assert CustomTool.objects.get(pk=js.pk).enabled is False  # a function cannot run
    with pytest.raises(CommandError, match="no custom tool named nope"):
        run("custom_tools", "delete", "nope")
    assert "1 tool(s) deleted." in run("custom_tools", "delete", "weather")
    assert list(CustomTool.objects.values_list("name", flat=True)) == ["js"]


def test_tools_list_shows_the_custom_tools(tools):
    listing = run("tools_list")
    assert "weather" in listing and "js" not in listing.split()
    assert "js" in run("tools_list", "--all").split()
