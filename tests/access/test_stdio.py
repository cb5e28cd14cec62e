"""The stdio-command attack: a stdio MCP server runs its command on the worker, so
adding or changing one needs endpoints.run_commands (Hub administrators,
superusers), over REST and in the admin, and every such change is audited with
its secrets masked. HUB_STDIO_ALLOWED_COMMANDS narrows the commands further."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.test import Client
from rest_framework.test import APIClient

from endpoints.admin.mcp_server import NO_COMMANDS, McpServerForm
from endpoints.config_file import parse_config
from endpoints.models import McpServer
from endpoints.services.config_import import config_import
from tests.access.identities import make_user, user_with
from tests.endpoints.test_upstream_admin import server_form

pytestmark = pytest.mark.django_db

SERVERS = "/api/mcp-servers"
ADMIN_ADD = "/admin/endpoints/mcpserver/add/"
ENV_SECRET = "EnvSecretValue42"
ATTACK = {
    "name": "pwn",
    "transport": "stdio",
    "command": "/bin/sh",
    "args": ["-c", "touch /tmp/pwned"],
    "env": {"API_KEY": ENV_SECRET},
}


def api(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def admin(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def entries(server: McpServer) -> list[LogEntry]:
    return list(LogEntry.objects.filter(object_id=str(server.pk)).order_by("pk"))


@pytest.mark.parametrize("identity", ["staff", "viewer", "operator"])
def test_staff_viewers_and_operators_cannot_add_a_stdio_server_over_rest(identity):
    response = api(make_user(identity)).post(SERVERS, ATTACK, format="json")
    assert response.status_code == 403
    assert "endpoints.add_mcpserver" in response.json()["detail"]
    assert not McpServer.objects.exists()


def test_the_right_to_add_servers_is_not_the_right_to_run_commands():
    adder = api(user_with("endpoints.add_mcpserver", "endpoints.change_mcpserver"))
    response = adder.post(SERVERS, ATTACK, format="json")
    assert response.status_code == 403
    detail = response.json()["detail"]
    assert "endpoints.run_commands (Hub administrators have it)" in detail
    assert not McpServer.objects.exists()
    # stdio is the default transport: leaving it out is no way around the check.
    no_transport = {k: v for k, v in ATTACK.items() if k != "transport"}
    assert adder.post(SERVERS, no_transport, format="json").status_code == 403
    assert not McpServer.objects.exists()
    # A URL server needs no such right ...
    sse = {"name": "web", "transport": "sse", "url": "https://mcp.example/sse"}
    assert adder.post(SERVERS, sse, format="json").status_code == 201
    web = McpServer.objects.get(name="web")
    # ... but turning it into a stdio server, or giving it a command, does.
    for change in ({"transport": "stdio", "command": "/bin/sh"}, {"command": "/bin/sh"}):
        assert adder.patch(f"{SERVERS}/{web.pk}", change, format="json").status_code == 403
    web.refresh_from_db()
    assert web.transport == "sse" and web.command == ""
    assert adder.patch(f"{SERVERS}/{web.pk}", {"enabled": False}, format="json").status_code == 200


def test_changing_anything_of_a_stdio_server_needs_the_right():
    server = McpServer.objects.create(name="local", transport="stdio", command="npx", enabled=False)
    changer = api(user_with("endpoints.change_mcpserver"))
    # Enabling it would start its command.
    response = changer.patch(f"{SERVERS}/{server.pk}", {"enabled": True}, format="json")
    assert response.status_code == 403
    server.refresh_from_db()
    assert server.enabled is False


def test_an_administrator_adds_a_stdio_server_and_the_audit_log_masks_its_env():
    administrator = make_user("administrator")
    response = api(administrator).post(SERVERS, ATTACK, format="json")
    assert response.status_code == 201, response.json()
    server = McpServer.objects.get(name="pwn")
    [entry] = entries(server)
    assert entry.user == administrator and entry.action_flag == ADDITION
    message = entry.get_change_message()
    assert message.startswith("Added via the REST API: name 'pwn'; transport 'stdio'")
    assert "command '/bin/sh'" in message and '"-c", "touch /tmp/pwned"' in message
    assert 'env {"API_KEY": "***"}' in message and ENV_SECRET not in message

    # A change: what changed, an env value only as "changed".
    patch = {"env": {"API_KEY": "OtherSecret77"}, "args": ["-c", "true"]}
    assert (
        api(administrator).patch(f"{SERVERS}/{server.pk}", patch, format="json").status_code == 200
    )
    change = entries(server)[-1]
    assert change.action_flag == CHANGE
    text = change.get_change_message()
    assert text.startswith("Changed via the REST API: ")
    assert 'args ["-c", "touch /tmp/pwned"] → ["-c", "true"]' in text
    assert 'env {"API_KEY": "***"} (a secret value changed)' in text
    assert "OtherSecret77" not in text and ENV_SECRET not in text
    # The admin's History of the server shows both.
    history = admin(administrator).get(f"/admin/endpoints/mcpserver/{server.pk}/history/")
    page = history.content.decode()
    assert history.status_code == 200
    assert "Added via the REST API" in page and "Changed via the REST API" in page
    assert ENV_SECRET not in page and "OtherSecret77" not in page


@pytest.mark.parametrize("identity", ["staff", "viewer", "operator"])
def test_the_admin_add_form_is_refused_to_staff_viewers_and_operators(identity):
    client = admin(make_user(identity))
    assert client.get(ADMIN_ADD).status_code == 403
    stdio = server_form(name="pwn", transport="stdio", command="/bin/sh", args='["-c", "id"]')
    assert client.post(ADMIN_ADD, stdio).status_code == 403
    assert not McpServer.objects.exists()


def test_the_admin_hides_stdio_from_users_who_cannot_run_commands():
    client = admin(
        user_with(
            "endpoints.add_mcpserver", "endpoints.change_mcpserver", "endpoints.view_mcpserver"
        )
    )
    page = client.get(ADMIN_ADD).content.decode()
    assert 'name="command"' not in page and 'name="env"' not in page
    assert '<option value="stdio"' not in page
    stdio = server_form(name="pwn", transport="stdio", command="/bin/sh", args='["-c", "id"]')
    response = client.post(ADMIN_ADD, stdio)
    assert response.status_code == 200  # the form again, with the error
    assert "Select a valid choice" in response.content.decode()
    assert not McpServer.objects.exists()
    # An existing stdio server is theirs to look at, not to change.
    server = McpServer.objects.create(
        name="local", transport="stdio", command="npx", env={"TOKEN": ENV_SECRET}
    )
    change_page = f"/admin/endpoints/mcpserver/{server.pk}/change/"
    view = client.get(change_page)
    assert view.status_code == 200 and ENV_SECRET not in view.content.decode()
    assert (
        client.post(
            change_page, server_form(name="local", transport="stdio", command="/bin/sh")
        ).status_code
        == 403
    )
    server.refresh_from_db()
    assert server.command == "npx"


def test_a_submitted_command_is_ignored_and_the_form_itself_refuses_one():
    client = admin(user_with("endpoints.add_mcpserver", "endpoints.change_mcpserver"))
    server = McpServer.objects.create(name="web", transport="sse", url="https://mcp.example/sse")
    # The hidden fields are not in the form: a crafted POST's command is not stored.
    page = f"/admin/endpoints/mcpserver/{server.pk}/change/"
    response = client.post(page, server_form(name="web", transport="sse", command="/bin/sh"))
    assert response.status_code == 302
    server.refresh_from_db()
    assert server.command == ""
    # And the form refuses one by itself, should the fields ever be shown.
    form_class = type("Form", (McpServerForm,), {"may_run_commands": False})
    form = form_class(server_form(name="web", transport="sse", command="/bin/sh"), instance=server)
    assert not form.is_valid()
    assert form.non_field_errors() == [NO_COMMANDS]


def test_an_administrator_adds_a_stdio_server_in_the_admin_with_a_masked_history():
    administrator = make_user("administrator")
    form = server_form(
        name="local",
        transport="stdio",
        command="/usr/bin/npx",
        args='["-y", "server"]',
        env=f'{{"TOKEN": "{ENV_SECRET}"}}',
    )
    response = admin(administrator).post(ADMIN_ADD, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    server = McpServer.objects.get(name="local")
    assert server.env == {"TOKEN": ENV_SECRET}
    [entry] = entries(server)
    message = entry.get_change_message()
    assert message.startswith("Added via the admin: ") and "command '/usr/bin/npx'" in message
    assert 'env {"TOKEN": "***"}' in message and ENV_SECRET not in message


# --- HUB_STDIO_ALLOWED_COMMANDS ------------------------------------------------


def test_the_allow_list_refuses_other_commands_over_rest_and_in_an_import(settings):
    settings.HUB_STDIO_ALLOWED_COMMANDS = ["npx", "/usr/local/bin/mcp-weather"]
    client = api(make_user("administrator"))
    response = client.post(SERVERS, ATTACK, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "command": [
            "'/bin/sh' is not an allowed command; HUB_STDIO_ALLOWED_COMMANDS allows only: "
            "npx, /usr/local/bin/mcp-weather"
        ]
    }
    assert not McpServer.objects.exists()
    # A name allows that name only, not a program of that name elsewhere.
    elsewhere = {**ATTACK, "command": "/tmp/npx"}
    assert client.post(SERVERS, elsewhere, format="json").status_code == 400
    for allowed in ("npx", "/usr/local/bin/mcp-weather"):
        body = {**ATTACK, "name": allowed.rsplit("/", 1)[-1], "command": allowed}
        assert client.post(SERVERS, body, format="json").status_code == 201
    assert McpServer.objects.count() == 2

    config = {"mcpServers": {"evil": {"command": "/bin/sh", "args": ["-c", "id"]}}}
    with pytest.raises(Exception, match="not an allowed command"):
        config_import(parsed=parse_config(config))
    assert not McpServer.objects.filter(name="evil").exists()


def test_an_empty_allow_list_allows_any_command(settings):
    settings.HUB_STDIO_ALLOWED_COMMANDS = []
    response = api(make_user("superuser")).post(SERVERS, ATTACK, format="json")
    assert response.status_code == 201
