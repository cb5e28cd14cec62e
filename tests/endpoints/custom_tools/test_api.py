"""REST /api/custom-tools and /api/platforms: CRUD, secrets masked in every answer and
audit entry, the `script` kind guarded by endpoints.run_commands, hostile bodies."""

from __future__ import annotations

import json

import pytest
from django.contrib.admin.models import LogEntry
from rest_framework.test import APIClient

from endpoints.models import CustomTool, Platform
from tests.access.identities import make_user, user_with
from tests.hostile.corpus import load, render

pytestmark = [pytest.mark.requires_services("mysql"), pytest.mark.django_db]

TOOLS = "/api/custom-tools"
PLATFORMS = "/api/platforms"
SECRET = "SeCrEtHandlerToken77"
TOOL_RIGHTS = (
    "endpoints.view_customtool",
    "endpoints.add_customtool",
    "endpoints.change_customtool",
    "endpoints.delete_customtool",
)
PLATFORM_RIGHTS = (
    "endpoints.view_platform",
    "endpoints.add_platform",
    "endpoints.change_platform",
    "endpoints.delete_platform",
)
HTTP_TOOL = {
    "name": "weather",
    "description": "天气",
    "inputSchema": {"type": "object", "properties": {"city": {"type": "string"}}},
    "handler": {
        "type": "http",
        "url": "https://api.example.com/weather?key=" + SECRET,
        "method": "POST",
        "headers": {"X-Api": SECRET},
        "auth": {"type": "bearer", "token": SECRET},
        "body_template": '{"city": "{{city}}"}',
        "timeout": 5000,
    },
}
SCRIPT_TOOL = {
    "name": "disk",
    "handler": {"type": "script", "interpreter": "bash", "script": "df -h"},
}


def api(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def administrator():
    return api(make_user("administrator"))


@pytest.fixture
def editor():
    """May add and change custom tools, but not run commands."""
    return api(user_with(*TOOL_RIGHTS, *PLATFORM_RIGHTS, username="ed"))


def test_create_list_retrieve_update_delete_with_secrets_masked(administrator):
    created = administrator.post(TOOLS, HTTP_TOOL, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert SECRET not in json.dumps(body)
    assert body["kind"] == "http" and body["timeout"] == 5.0 and body["enabled"] is True
    assert body["handler"]["auth"] == {"type": "bearer", "token": "***"}
    assert body["handler"]["headers"] == {"X-Api": "***"}
    assert body["handler"]["url"] == "https://api.example.com/weather?key=***"
    tool = CustomTool.objects.get(name="weather")
    assert tool.handler["auth"]["token"] == SECRET  # stored whole (encrypted at rest)

    listed = administrator.get(TOOLS).json()
    assert [t["name"] for t in listed["results"]] == ["weather"]
    assert SECRET not in json.dumps(listed)
    assert administrator.get(f"{TOOLS}/{tool.pk}").json()["name"] == "weather"

    # The masked handler sent back with one change keeps every stored secret.
    handler = {**body["handler"], "method": "PUT"}
    changed = administrator.patch(f"{TOOLS}/{tool.pk}", {"handler": handler}, format="json")
    assert changed.status_code == 200, changed.json()
    tool.refresh_from_db()
    assert tool.handler["method"] == "PUT" and tool.handler["auth"]["token"] == SECRET
    assert tool.handler["headers"]["X-Api"] == SECRET and SECRET in tool.handler["url"]

    assert (
        administrator.patch(f"{TOOLS}/{tool.pk}", {"enabled": False}, format="json").json()[
            "enabled"
        ]
        is False
    )
    entries = LogEntry.objects.filter(object_id=str(tool.pk))
    assert entries.count() == 3 and all(SECRET not in e.change_message for e in entries)

    assert administrator.delete(f"{TOOLS}/{tool.pk}").status_code == 204
    assert not CustomTool.objects.exists()


def test_a_function_handler_is_stored_disabled_with_the_reason(administrator):
    body = {"name": "js", "handler": {"type": "function", "module": "./a.js", "function": "f"}}
    created = administrator.post(TOOLS, body, format="json").json()
    assert created["enabled"] is False
    assert created["disabledReason"] == "a JavaScript function cannot run in the hub"
    tool_id = created["id"]
    again = administrator.patch(f"{TOOLS}/{tool_id}", {"enabled": True}, format="json")
    assert again.json()["enabled"] is False


@pytest.mark.parametrize(
    ("body", "key", "says"),
    [
        ({**HTTP_TOOL, "name": "a__b"}, "name", "'__'"),
        ({**HTTP_TOOL, "name": "天气"}, "name", "letters, digits"),
        ({"name": "x", "handler": {"type": "rpc"}}, "handler", "handler.type: must be one of"),
        ({"name": "x", "handler": {"type": "http"}}, "handler", "handler.url"),
        (
            {"name": "x", "handler": {"type": "http", "url": "javascript:alert(1)"}},
            "handler",
            "http",
        ),
        (
            {"name": "x", "handler": {"type": "chain", "tools": [], "mode": "sequential"}},
            "handler",
            "handler.tools",
        ),
        (
            {"name": "x", "handler": {"type": "proxy", "platform": "coze", "config": {}}},
            "handler",
            "workflow_id or bot_id",
        ),
        (
            {"name": "x", "handler": {"type": "mcp", "config": {"serviceName": "a"}}},
            "handler",
            "toolName",
        ),
        (
            {"name": "x", "inputSchema": {"type": 5}, "handler": HTTP_TOOL["handler"]},
            "inputSchema",
            "not valid",
        ),
        ({"name": "x", "handler": "http"}, "handler", ""),
        ({"name": "x", "handler": HTTP_TOOL["handler"], "timeout": 0}, "timeout", ""),
        (
            {"name": "x", "handler": {**HTTP_TOOL["handler"], "headers": {"K": 1}}},
            "handler",
            "string",
        ),
    ],
)
def test_bad_tools_are_400_naming_the_key(administrator, body, key, says):
    response = administrator.post(TOOLS, body, format="json")
    assert response.status_code == 400, response.json()
    assert key in response.json() and says in json.dumps(response.json(), ensure_ascii=False)
    assert not CustomTool.objects.exists()


def test_script_tools_need_the_right_to_run_commands(administrator, editor):
    refused = editor.post(TOOLS, SCRIPT_TOOL, format="json")
    assert refused.status_code == 403
    assert "endpoints.run_commands (Hub administrators have it)" in refused.json()["detail"]
    assert not CustomTool.objects.exists()
    # leaving the kind to the handler is no way around it, nor is turning a tool into one
    created = editor.post(TOOLS, HTTP_TOOL, format="json").json()
    turned = editor.patch(
        f"{TOOLS}/{created['id']}", {"handler": SCRIPT_TOOL["handler"]}, format="json"
    )
    assert turned.status_code == 403
    assert CustomTool.objects.get().kind == "http"

    allowed = administrator.post(TOOLS, SCRIPT_TOOL, format="json")
    assert allowed.status_code == 201, allowed.json()
    script_id = allowed.json()["id"]
    entry = LogEntry.objects.get(object_id=str(script_id))
    assert "df -h" in entry.change_message  # audited, with what it runs
    # an editor may neither change nor delete it
    assert (
        editor.patch(f"{TOOLS}/{script_id}", {"enabled": False}, format="json").status_code == 403
    )
    assert editor.delete(f"{TOOLS}/{script_id}").status_code == 403
    assert administrator.delete(f"{TOOLS}/{script_id}").status_code == 204


@pytest.mark.parametrize("identity", ["staff", "viewer", "operator"])
def test_staff_viewers_and_operators_cannot_add_a_script_tool(identity):
    response = api(make_user(identity)).post(TOOLS, SCRIPT_TOOL, format="json")
    assert response.status_code == 403
    assert "endpoints.add_customtool" in response.json()["detail"]
    assert not CustomTool.objects.exists()


def test_platforms_with_the_token_masked(administrator):
    created = administrator.post(
        PLATFORMS,
        {"name": "coze", "settings": {"token": SECRET, "baseUrl": "https://api.coze.cn"}},
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["settings"] == {"token": "***", "baseUrl": "https://api.coze.cn"}
    platform_id = body["id"]
    changed = administrator.patch(
        f"{PLATFORMS}/{platform_id}",
        {"settings": {"token": "***", "baseUrl": "https://api.coze.com"}},
        format="json",
    )
    assert changed.status_code == 200
    platform = Platform.objects.get()
    assert platform.settings == {"token": SECRET, "baseUrl": "https://api.coze.com"}
    assert SECRET not in json.dumps(administrator.get(PLATFORMS).json())
    assert all(SECRET not in e.change_message for e in LogEntry.objects.all())
    assert administrator.delete(f"{PLATFORMS}/{platform_id}").status_code == 204


def test_list_filters_and_pagination(administrator):
    for i in range(3):
        administrator.post(TOOLS, {**HTTP_TOOL, "name": f"t{i}"}, format="json")
    administrator.post(
        TOOLS,
        {"name": "js", "handler": {"type": "function", "module": "m", "function": "f"}},
        format="json",
    )
    page = administrator.get(f"{TOOLS}?page_size=2").json()
    assert len(page["results"]) == 2 and page["next"]
    assert [t["name"] for t in administrator.get(f"{TOOLS}?kind=function").json()["results"]] == [
        "js"
    ]
    assert len(administrator.get(f"{TOOLS}?enabled=false").json()["results"]) == 1
    assert administrator.get(f"{TOOLS}?kind=nope").status_code == 400


# The generic hostile bodies of the corpus (the oversize one is the ASGI corpus test's).
BODIES = [body for body in load("rest_bodies.json")["bodies"] if not body.get("oversize")]


@pytest.mark.parametrize("case", BODIES, ids=[b["id"] for b in BODIES])
@pytest.mark.parametrize("route", ["tools", "tool", "platforms", "platform"])
def test_hostile_bodies_get_a_4xx_and_change_nothing(administrator, case, route):
    tool = CustomTool.objects.create(name="keep", kind="http", handler=HTTP_TOOL["handler"])
    platform = Platform.objects.create(name="coze", settings={"token": SECRET})
    method, path = {
        "tools": ("post", TOOLS),
        "tool": ("patch", f"{TOOLS}/{tool.pk}"),
        "platforms": ("post", PLATFORMS),
        "platform": ("patch", f"{PLATFORMS}/{platform.pk}"),
    }[route]
    response = getattr(administrator, method)(
        path, render(case["body"]), content_type="application/json"
    )
    assert response.status_code == case["status"] and case["says"] in response.content.decode()
    assert list(CustomTool.objects.values()) == [
        {**CustomTool.objects.values().get(), "handler": HTTP_TOOL["handler"]}
    ]
    assert Platform.objects.get().settings == {"token": SECRET}


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x", "handler": {"type": "http", "url": "https://e.x/\ud800"}},
        {"name": "x\udc00", "handler": HTTP_TOOL["handler"]},
        {"name": "x", "handler": HTTP_TOOL["handler"], "inputSchema": {"$ref": "http://evil/x"}},
        {"name": "x", "handler": {"type": "script", "script": 5}},
        {"name": "x" * 65, "handler": HTTP_TOOL["handler"]},
        {"name": "x", "handler": {**HTTP_TOOL["handler"], "timeout": -1}},
        {"name": "x", "handler": {**HTTP_TOOL["handler"], "response_mapping": {"data_path": 1}}},
        [HTTP_TOOL],
    ],
)
def test_hostile_tools_are_refused(administrator, body):
    response = administrator.post(TOOLS, json.dumps(body), content_type="application/json")
    assert response.status_code in (400, 403), response.content
    assert not CustomTool.objects.exists()


def test_the_allowed_commands_setting_covers_a_scripts_interpreter(administrator, settings):
    settings.HUB_STDIO_ALLOWED_COMMANDS = ["python"]
    refused = administrator.post(TOOLS, SCRIPT_TOOL, format="json")
    assert refused.status_code == 400
    assert "HUB_STDIO_ALLOWED_COMMANDS allows only: python" in json.dumps(refused.json())
    assert not CustomTool.objects.exists()
    python_tool = {
        **SCRIPT_TOOL,
        "handler": {"type": "script", "interpreter": "python", "script": "print(1)"},
    }
    assert administrator.post(TOOLS, python_tool, format="json").status_code == 201
