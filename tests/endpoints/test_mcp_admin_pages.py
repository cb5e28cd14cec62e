"""The MCP server and tool pages of the admin, and the tool numbers over REST:
escaped help texts, fields by transport, arguments one per line or as JSON, the
description override on the tool's own page, per-tool numbers from the call log
(one aggregate query), and who sees the "Try it" form."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from endpoints.models import McpServer, Tool, ToolCall
from tests.access.identities import make_user
from tests.endpoints.test_upstream_admin import server_form
from tests.endpoints.upstream_helpers import http_server, stdio_server

pytestmark = pytest.mark.django_db

SERVERS = "/admin/endpoints/mcpserver/"
TOOLS = "/admin/endpoints/tool/"


def client_of(identity: str) -> Client:
    client = Client()
    client.force_login(make_user(identity))
    return client


def add_form(**fields) -> dict:
    """A new stdio server's form (test_upstream_admin's form, the transport changed)."""
    return server_form(
        **{"name": "calc", "transport": "stdio", "command": "python", "args": ""} | fields
    )


# --- help texts --------------------------------------------------------------------------
def test_the_name_help_text_shows_its_angle_brackets(admin_client):
    page = admin_client.get(f"{SERVERS}add/").content.decode()
    assert "tools are exposed as &lt;name&gt;__&lt;tool&gt;." in page
    assert "<name>" not in page  # not swallowed as an HTML tag


def test_read_only_pages_escape_the_help_text_too():
    server = http_server()
    page = client_of("viewer").get(f"{SERVERS}{server.pk}/change/").content.decode()
    assert "&lt;name&gt;__&lt;tool&gt;" in page and "<name>" not in page


# --- fields by transport -----------------------------------------------------------------
def test_the_fieldsets_say_their_transport_and_the_page_loads_the_toggle(admin_client):
    server = stdio_server()
    page = admin_client.get(f"{SERVERS}{server.pk}/change/").content.decode()
    stdio = re.search(r'<fieldset class="[^"]*hub-transport-stdio[^"]*"', page)
    url = re.search(r'<fieldset class="[^"]*hub-transport-url[^"]*"', page)
    assert stdio and url
    for name in ("command", "args", "env", "cwd"):
        assert page.index(f'id="id_{name}"') > stdio.start()
        assert page.index(f'id="id_{name}"') < url.start()
    assert page.index('id="id_url"') > url.start() and page.index('id="id_headers"') > url.start()
    assert "hub-admin/mcp-server.js" in page and "hub-admin/mcp.css" in page
    assert not re.search(r"<script>(?!</script>)|<script(?![^>]*\bsrc=)[^>]*>", page)


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"transport": "stdio", "command": ""}, "command", "a stdio server needs a command"),
        ({"transport": "sse", "command": ""}, "url", "a sse server needs a URL"),
    ],
)
def test_the_server_refuses_a_form_without_its_transports_field(admin_client, fields, field, says):
    response = admin_client.post(f"{SERVERS}add/", add_form(**fields))
    assert response.status_code == 200 and not McpServer.objects.exists()
    assert says in response.content.decode()


def test_the_other_transports_fields_are_ignored_by_what_runs(admin_client):
    """A stdio server switched to streamable-http keeps its (hidden) command, unused."""
    server = stdio_server(args=["calc.py"])
    form = add_form(
        transport="streamable-http", command="python", url="https://mcp.example.com/mcp"
    )
    response = admin_client.post(f"{SERVERS}{server.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[-2000:]
    server.refresh_from_db()
    config = server.to_config()
    assert config.transport == "streamable-http"
    assert config.replicas[0].url == "https://mcp.example.com/mcp"
    assert config.replicas[0].command in (None, "")


# --- arguments ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "typed",
    [
        "-m\ntests.endpoints.upstream_servers\n--name\nmy server\n",
        "  -m\r\n\r\ntests.endpoints.upstream_servers\r\n--name  \r\nmy server",
        '["-m", "tests.endpoints.upstream_servers", "--name", "my server"]',
        '  [\n "-m",\n "tests.endpoints.upstream_servers", "--name", "my server"\n]\n',
    ],
    ids=["lines", "lines-crlf-blank-lines", "json", "json-multiline"],
)
def test_arguments_one_per_line_or_as_json_give_the_same_list(admin_client, typed):
    response = admin_client.post(f"{SERVERS}add/", add_form(args=typed))
    assert response.status_code == 302, response.content.decode()[-2000:]
    server = McpServer.objects.get()
    assert server.args == ["-m", "tests.endpoints.upstream_servers", "--name", "my server"]
    # Shown back one per line.
    page = admin_client.get(f"{SERVERS}{server.pk}/change/").content.decode()
    assert "-m\ntests.endpoints.upstream_servers\n--name\nmy server</textarea>" in page


def test_the_arguments_hint_says_both_ways(admin_client):
    page = admin_client.get(f"{SERVERS}add/").content.decode()
    assert 'one per line, or a JSON array of strings such as ["-m", "my_server"]' in page


def test_arguments_a_line_cannot_hold_are_shown_as_json(admin_client):
    server = stdio_server(args=["", " padded ", "two\nlines"])
    page = admin_client.get(f"{SERVERS}{server.pk}/change/").content.decode()
    assert "[&quot;&quot;, &quot; padded &quot;, &quot;two\\nlines&quot;]</textarea>" in page
    response = admin_client.post(
        f"{SERVERS}{server.pk}/change/", add_form(args='["", " padded ", "two\\nlines"]')
    )
    assert response.status_code == 302
    server.refresh_from_db()
    assert server.args == ["", " padded ", "two\nlines"]


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ('["-m", "server"', "not valid JSON"),
        ('["-m", 3]', "as JSON, the arguments must be an array of strings"),
        ("[" * 500 + "]" * 500, "not valid JSON: nested deeper than"),
        ('["-m", "SeCrEt-token" ', "not valid JSON"),
    ],
    ids=["unclosed", "not-strings", "too-deep", "secret-not-echoed"],
)
def test_bad_json_arguments_get_a_clear_form_error(admin_client, typed, says):
    response = admin_client.post(f"{SERVERS}add/", add_form(args=typed))
    assert response.status_code == 200 and not McpServer.objects.exists()
    page = response.content.decode()
    errors = re.search(r'<ul class="errorlist[^"]*"[^>]*>(.*?)</ul>', page, re.S)
    assert errors and says in errors.group(1), page[-3000:]
    assert "SeCrEt-token" not in errors.group(1)


# --- the tools' pages ----------------------------------------------------------------------
def tool_of(server: McpServer, name: str, **fields) -> Tool:
    return server.tools.create(
        upstream_name=name, exposed_name=f"{server.name}__{name}", available=True, **fields
    )


def test_the_tool_list_edits_no_description_and_the_tool_page_does(admin_client):
    server = http_server()
    tool = tool_of(server, "search", description="Search the web. " * 40)
    listing = admin_client.get(TOOLS).content.decode()
    assert "description_override" not in listing and "<textarea" not in listing
    page = admin_client.get(f"{TOOLS}{tool.pk}/change/").content.decode()
    assert re.search(r'<textarea name="description_override"[^>]*rows="3"', page)
    form = {"enabled": "on", "description_override": "Find web pages", "timeout": ""}
    response = admin_client.post(f"{TOOLS}{tool.pk}/change/", form)
    assert response.status_code == 302
    tool.refresh_from_db()
    assert tool.description_override == "Find web pages"


def log(tool: Tool | None, outcome: str, ms: float, *, sampled: int = 0, **fields) -> ToolCall:
    arguments = fields.pop("arguments", '{"q": "x"}')
    if sampled:
        now = timezone.now().isoformat()
        arguments = json.dumps({"sampled": {"calls": sampled, "first": now, "last": now}})
    return ToolCall.objects.create(
        tool=tool.exposed_name if tool else "ghost__tool",
        tool_ref=tool,
        server=tool.server if tool else None,
        outcome=outcome,
        duration_ms=ms,
        arguments=arguments,
        **fields,
    )


@pytest.fixture
def logged():
    """search: 3 ok (10, 20, 30 ms), a timeout (40 ms), a sampled row of 5 ok calls
    (50 ms on average): 9 calls, 1 failed, (10+20+30+40+5*50)/9 = 38.9 ms.
    fetch: one tool_error (7 ms). idle: none."""
    server = http_server()
    search, fetch, idle = (tool_of(server, n) for n in ("search", "fetch", "idle"))
    for ms in (10, 20, 30):
        log(search, "ok", ms)
    log(search, "timeout", 40, error="slow")
    log(search, "ok", 50, sampled=5)
    log(fetch, "tool_error", 7)
    log(None, "not_found", 1)  # names no tool: counted nowhere
    # Arguments that merely look like JSON, truncated: never parsed.
    log(fetch, "ok", 3, arguments='{"sampled": {"calls": 1, "fir…')
    return search, fetch, idle


def test_the_tool_list_and_page_show_calls_failure_rate_and_latency(admin_client, logged):
    search, fetch, idle = logged
    listing = admin_client.get(TOOLS).content.decode()
    row = re.search(rf"<tr>.*?{search.exposed_name}.*?</tr>", listing, re.S).group(0)
    assert re.search(r'class="field-calls_column">9<', row)
    assert re.search(r'class="field-failure_rate_column">11\.1 %<', row)
    assert re.search(r'class="field-latency_column">38\.9 ms<', row)
    row = re.search(rf"<tr>.*?{fetch.exposed_name}.*?</tr>", listing, re.S).group(0)
    assert re.search(r'class="field-calls_column">2<', row)
    assert re.search(r'class="field-failure_rate_column">50\.0 %<', row)
    row = re.search(rf"<tr>.*?{idle.exposed_name}.*?</tr>", listing, re.S).group(0)
    assert re.search(r'class="field-calls_column">0<', row)
    assert re.search(r'class="field-failure_rate_column">-<', row)

    page = admin_client.get(f"{TOOLS}{search.pk}/change/").content.decode()
    assert "9 calls, 1 failed (11.1 %), average latency 38.9 ms" in page
    page = admin_client.get(f"{TOOLS}{idle.pk}/change/").content.decode()
    assert "no calls in the log" in page
    # Sorted by calls, most first.
    listing = admin_client.get(TOOLS + "?o=-5").content.decode()
    assert listing.index(search.exposed_name) < listing.index(fetch.exposed_name)
    assert listing.index(fetch.exposed_name) < listing.index(idle.exposed_name)


def test_the_rest_tool_detail_has_the_numbers(staff_client, logged):
    search, fetch, idle = logged
    body = staff_client.get(f"/api/tools/{search.pk}").json()
    assert body["callStats"] == {
        "calls": 9,
        "failures": 1,
        "failureRate": 0.1111,
        "avgLatencyMs": 38.9,
    }
    body = staff_client.get(f"/api/tools/{idle.pk}").json()
    assert body["callStats"] == {
        "calls": 0,
        "failures": 0,
        "failureRate": None,
        "avgLatencyMs": None,
    }
    listed = {t["name"]: t["callStats"] for t in staff_client.get("/api/tools").json()["results"]}
    assert listed[fetch.exposed_name]["calls"] == 2


def test_the_numbers_cost_one_query_however_many_tools(admin_client, staff_client):
    server = http_server()

    def queries(path: str, client) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(path).status_code == 200
        return len(captured)

    for index in range(2):
        log(tool_of(server, f"t{index}"), "ok", 5)
    few = (queries(TOOLS, admin_client), queries("/api/tools", staff_client))
    for index in range(2, 8):
        tool = tool_of(server, f"t{index}")
        log(tool, "ok", 5)
        log(tool, "error", 5, at=timezone.now() - timedelta(minutes=1))
    many = (queries(TOOLS, admin_client), queries("/api/tools", staff_client))
    assert many == few


# --- who sees "Try it" --------------------------------------------------------------------
@pytest.mark.parametrize(("identity", "shown"), [("viewer", False), ("operator", True)])
def test_the_try_form_is_offered_to_those_who_may_call_tools(identity, shown):
    tool = tool_of(http_server(), "search", input_schema={"type": "object"})
    page = client_of(identity).get(f"{TOOLS}{tool.pk}/change/").content.decode()
    assert ('id="tool-try-form"' in page) is shown


def test_the_pages_render_in_chinese(logged):
    search, _, _ = logged
    client = client_of("operator")
    client.cookies.load({"django_language": "zh-hans"})
    for path in (
        f"{SERVERS}{search.server_id}/change/",
        SERVERS,
        TOOLS,
        f"{TOOLS}{search.pk}/change/",
    ):
        response = client.get(path, HTTP_ACCEPT_LANGUAGE="zh-hans")
        assert response.status_code == 200, path
        assert 'lang="zh-hans"' in response.content.decode(), path
    answer = client.post(f"{TOOLS}{search.pk}/try/", {"arguments": "{bad"})
    assert answer.status_code == 400
