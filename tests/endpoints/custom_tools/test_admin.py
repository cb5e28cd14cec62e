"""The admin of custom tools and platforms: the handler box (depth-limited JSON) with
its secrets masked, `script` tools only for those who may run commands, audited."""

from __future__ import annotations

import json

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client

from endpoints.models import CustomTool, Platform
from tests.access.identities import make_user, user_with

pytestmark = [pytest.mark.requires_services("mysql"), pytest.mark.django_db]

ADD = "/admin/endpoints/customtool/add/"
SECRET = "AdminSeCrEt991"
TOOL_RIGHTS = (
    "endpoints.view_customtool",
    "endpoints.add_customtool",
    "endpoints.change_customtool",
    "endpoints.delete_customtool",
)
HTTP_HANDLER = {
    "type": "http",
    "url": "https://api.example.com/x",
    "auth": {"type": "basic", "username": "me", "password": SECRET},
}
SCRIPT_HANDLER = {"type": "script", "interpreter": "bash", "script": "id"}


def admin(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def form(**fields) -> dict:
    data = {
        "name": "tool",
        "kind": "http",
        "description": "",
        "input_schema": '{"type": "object"}',
        "handler": json.dumps(HTTP_HANDLER),
        "enabled": "on",
        "timeout": "30",
    }
    data.update(fields)
    return data


@pytest.fixture
def administrator():
    return admin(make_user("administrator"))


@pytest.fixture
def editor():
    return admin(user_with(*TOOL_RIGHTS, username="ed"))


def test_add_and_change_with_the_secrets_masked(administrator):
    response = administrator.post(ADD, form())
    assert response.status_code == 302, response.content.decode()[:2000]
    tool = CustomTool.objects.get()
    assert tool.handler["auth"]["password"] == SECRET
    page = administrator.get(f"/admin/endpoints/customtool/{tool.pk}/change/").content.decode()
    assert SECRET not in page and "***" in page
    # The masked box sent back unchanged keeps the secret; a change is saved.
    masked = dict(HTTP_HANDLER, auth={**HTTP_HANDLER["auth"], "password": "***"}, method="GET")
    changed = administrator.post(
        f"/admin/endpoints/customtool/{tool.pk}/change/", form(handler=json.dumps(masked))
    )
    assert changed.status_code == 302
    tool.refresh_from_db()
    assert tool.handler["auth"]["password"] == SECRET and tool.handler["method"] == "GET"
    assert all(SECRET not in e.change_message for e in LogEntry.objects.all())
    assert LogEntry.objects.count() == 2


def test_a_bad_handler_is_a_form_error_that_never_repeats_the_text(administrator):
    deep = "[" * 500 + "]" * 500
    for handler, says in [
        (deep, "nested deeper"),
        ("{not json " + SECRET, "not valid JSON"),
        ('{"type": "chain", "tools": []}', "handler.tools"),
        ("[1]", "must be a JSON object"),
    ]:
        page = administrator.post(ADD, form(handler=handler)).content.decode()
        assert says in page and SECRET not in page, says
    assert not CustomTool.objects.exists()


def test_script_tools_are_refused_without_the_right_to_run_commands(administrator, editor):
    page = editor.post(ADD, form(kind="script", handler=json.dumps(SCRIPT_HANDLER)))
    assert page.status_code == 200
    assert "endpoints.run_commands" in page.content.decode()
    assert not CustomTool.objects.exists()
    # the handler's type decides, whatever the kind box says
    page = editor.post(ADD, form(kind="http", handler=json.dumps(SCRIPT_HANDLER)))
    assert "endpoints.run_commands" in page.content.decode() and not CustomTool.objects.exists()

    assert (
        administrator.post(
            ADD, form(name="whoami", kind="script", handler=json.dumps(SCRIPT_HANDLER))
        ).status_code
        == 302
    )
    script = CustomTool.objects.get(name="whoami")
    assert script.kind == "script"
    entry = LogEntry.objects.get(object_id=str(script.pk))
    assert (
        "Added via the admin" in entry.change_message and '"script": "id"' in entry.change_message
    )
    # read-only (and not deletable) for the editor
    change = f"/admin/endpoints/customtool/{script.pk}/change/"
    assert 'name="handler"' not in editor.get(change).content.decode()
    assert (
        editor.post(change, form(name="whoami", handler=json.dumps(SCRIPT_HANDLER))).status_code
        == 403
    )
    assert (
        editor.post(f"/admin/endpoints/customtool/{script.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert CustomTool.objects.filter(pk=script.pk).exists()


@pytest.mark.parametrize("identity", ["staff", "viewer", "operator"])
def test_the_add_form_is_refused_to_staff_viewers_and_operators(identity):
    client = admin(make_user(identity))
    assert (
        client.post(ADD, form(kind="script", handler=json.dumps(SCRIPT_HANDLER))).status_code == 403
    )
    assert not CustomTool.objects.exists()


def test_platform_settings_are_masked(administrator):
    client = administrator
    settings = {"token": SECRET, "baseUrl": "https://api.coze.cn"}
    assert (
        client.post(
            "/admin/endpoints/platform/add/", {"name": "coze", "settings": json.dumps(settings)}
        ).status_code
        == 302
    )
    platform = Platform.objects.get()
    page = client.get(f"/admin/endpoints/platform/{platform.pk}/change/").content.decode()
    assert SECRET not in page and "https://api.coze.cn" in page
    kept = {"token": "***", "baseUrl": "https://api.coze.com"}
    client.post(
        f"/admin/endpoints/platform/{platform.pk}/change/",
        {"name": "coze", "settings": json.dumps(kept)},
    )
    platform.refresh_from_db()
    assert platform.settings == {"token": SECRET, "baseUrl": "https://api.coze.com"}
    viewer = admin(make_user("viewer"))
    page = viewer.get(f"/admin/endpoints/platform/{platform.pk}/change/").content.decode()
    assert SECRET not in page and "***" in page
