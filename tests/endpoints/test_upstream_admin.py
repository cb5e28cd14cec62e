"""Admin of MCP servers, tools and the call log: no secret in any page, write-only secrets."""

import json

import pytest

from endpoints.models import McpServer, Tool, ToolCall
from endpoints.services.mcp_server_status import mcp_server_status_store
from endpoints.upstreams.records import ReplicaStatus, ServerStatus
from tests.endpoints.conftest import SECRET_MARK
from tests.endpoints.upstream_helpers import control_messages, http_server, stdio_server

pytestmark = pytest.mark.django_db

SERVERS = "/admin/endpoints/mcpserver/"
TOOLS = "/admin/endpoints/tool/"
CALLS = "/admin/endpoints/toolcall/"


@pytest.fixture
def web():
    server = http_server()
    server.tools.create(upstream_name="search", exposed_name="web__search", available=True,
                        description="Search the web", usage_count=5)  # fmt: skip
    mcp_server_status_store(
        status=ServerStatus(
            server_id=server.pk,
            name="web",
            state="ready",
            replicas=(
                ReplicaStatus(
                    0, "https://mcp.example.com/mcp?api_key=***", "ready", latency_ms=12.5
                ),
                ReplicaStatus(
                    1,
                    "https://mcp2.example.com/mcp?key=***",
                    "restarting",
                    last_error="connection refused",
                    restarts=3,
                ),
            ),  # fmt: skip
            tool_count=1,
        )
    )
    return server


def server_form(**fields) -> dict:
    form = {
        "name": "web",
        "transport": "streamable-http",
        "command": "",
        "args": "[]",
        "env": "",
        "cwd": "",
        "replicas": "1",
        "url": "",
        "headers": "",
        "replica_urls": "",
        "enabled": "on",
        "call_timeout": "30",
        "load_balance": "round-robin",
        "tools-TOTAL_FORMS": "0",
        "tools-INITIAL_FORMS": "0",
    }
    form.update(fields)
    return form


def test_pages_render_status_and_never_a_secret(admin_client, web):
    ToolCall.objects.create(tool="web__search", outcome="timeout", server=web, error="slow")
    html = admin_client.get(SERVERS).content.decode()
    assert "web" in html and "ready" in html and "1/1" in html
    assert "https://mcp.example.com/mcp?api_key=***" in html
    page = admin_client.get(f"{SERVERS}{web.pk}/change/").content.decode()
    assert "12.5 ms" in page and "connection refused" in page and "restarting" in page
    assert 'type="password"' in page and "web__search" in page  # the tools inline
    assert "Authorization" in page  # header names stay readable
    tool = web.tools.get()
    pages = [
        html,
        page,
        admin_client.get(f"{SERVERS}{web.pk}/history/").content.decode(),
        admin_client.get(f"{SERVERS}{web.pk}/delete/").content.decode(),
        admin_client.get(TOOLS).content.decode(),
        admin_client.get(f"{TOOLS}{tool.pk}/change/").content.decode(),
        admin_client.get(CALLS).content.decode(),
    ]
    assert all(SECRET_MARK not in p for p in pages)
    assert "Search the web" in pages[5] and "slow" in pages[6]
    assert admin_client.get(f"{TOOLS}add/").status_code == 403
    assert admin_client.get(f"{CALLS}add/").status_code == 403


def test_secret_fields_keep_stored_values_when_left_blank_or_masked(admin_client, web):
    response = admin_client.post(
        f"{SERVERS}{web.pk}/change/",
        server_form(
            call_timeout="12",
            headers=json.dumps({"Authorization": "***", "X-New": "plain"}),
            replica_urls=json.dumps(
                ["https://mcp2.example.com/mcp?key=***", "https://mcp3.example.com/mcp"]
            ),
        ),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    web.refresh_from_db()
    assert web.url.endswith(f"{SECRET_MARK}url") and web.call_timeout == 12
    assert web.headers == {"Authorization": f"Bearer {SECRET_MARK}hdr", "X-New": "plain"}
    assert web.replica_urls == [
        f"https://mcp2.example.com/mcp?key={SECRET_MARK}rep",
        "https://mcp3.example.com/mcp",
    ]
    # Blank boxes keep everything; {} removes.
    admin_client.post(f"{SERVERS}{web.pk}/change/", server_form(headers="{}"))
    web.refresh_from_db()
    assert web.headers == {} and len(web.replica_urls) == 2


def test_bad_input_is_refused_without_echoing_secrets(admin_client):
    response = admin_client.post(
        f"{SERVERS}add/", server_form(url=f"ws://host/mcp?token={SECRET_MARK}")
    )
    html = response.content.decode()
    assert response.status_code == 200 and "not an http:// or https:// URL" in html
    assert SECRET_MARK not in html
    response = admin_client.post(
        f"{SERVERS}add/",
        server_form(transport="stdio", command="python", env=f'{{"K": "{SECRET_MARK}"'),
    )
    html = response.content.decode()
    assert "not valid JSON" in html and SECRET_MARK not in html
    # Nested past the parser's recursion limit: a form error, not a 500.
    deep = '{"K": ' + "[" * 100_000 + "]" * 100_000 + "}"
    response = admin_client.post(
        f"{SERVERS}add/", server_form(transport="stdio", command="python", env=deep)
    )
    assert response.status_code == 200 and "nested deeper than" in response.content.decode()
    response = admin_client.post(f"{SERVERS}add/", server_form(name="a__b"))
    assert "&#x27;__&#x27;" in response.content.decode() or "'__'" in response.content.decode()
    assert not McpServer.objects.exists()

    response = admin_client.post(
        f"{SERVERS}add/",
        server_form(name="calc", transport="stdio", command="python",
                    env=json.dumps({"K": SECRET_MARK})),
    )  # fmt: skip
    assert response.status_code == 302
    assert McpServer.objects.get(name="calc").env == {"K": SECRET_MARK}


@pytest.mark.requires_services("redis")
def test_actions_and_list_editing_reach_the_pool(
    admin_client, web, django_capture_on_commit_callbacks
):
    calc = stdio_server()
    with control_messages() as seen, django_capture_on_commit_callbacks(execute=True):
        admin_client.post(SERVERS, {"action": "disable", "_selected_action": [web.pk, calc.pk]})
    assert not McpServer.objects.filter(enabled=True).exists() and seen[0]["op"] == "reload"
    admin_client.post(SERVERS, {"action": "enable", "_selected_action": [web.pk]})
    assert McpServer.objects.get(pk=web.pk).enabled
    with control_messages() as seen, django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            SERVERS, {"action": "refresh_tools", "_selected_action": [web.pk]}, follow=True
        )
    assert "re-read servers and tools" in response.content.decode() and seen

    tool = Tool.objects.get()
    admin_client.post(TOOLS, {"action": "disable", "_selected_action": [tool.pk]})
    tool.refresh_from_db()
    assert not tool.enabled
    form = {
        "form-TOTAL_FORMS": "1",
        "form-INITIAL_FORMS": "1",
        "form-0-id": str(tool.pk),
        "form-0-enabled": "on",
        "_save": "Save",
    }
    with control_messages() as seen, django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(TOOLS, form)
    assert response.status_code == 302
    tool.refresh_from_db()
    assert tool.enabled  # the description override is edited on the tool's own page
    assert [m["op"] for m in seen] == ["reload"]
