"""REST of MCP servers, tools, test calls and the call log: auth, masking, CRUD, reloads."""

import json

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from endpoints.models import McpServer, Tool, ToolCall
from endpoints.pool_requests.tool_call import tool_call_reply
from endpoints.services.mcp_server_status import tool_catalog_store
from tests.endpoints.conftest import SECRET_MARK
from tests.endpoints.upstream_helpers import control_messages, http_server, stdio_server

pytestmark = pytest.mark.django_db

ROUTES = [
    ("get", "/api/mcp-servers"),
    ("post", "/api/mcp-servers"),
    ("get", "/api/mcp-servers/{server}"),
    ("patch", "/api/mcp-servers/{server}"),
    ("delete", "/api/mcp-servers/{server}"),
    ("get", "/api/tools"),
    ("get", "/api/tools/{tool}"),
    ("patch", "/api/tools/{tool}"),
    ("post", "/api/tools/call"),
    ("get", "/api/tools/calls"),
]


@pytest.fixture
def server():
    server = http_server()
    server.tools.create(upstream_name="search", exposed_name="web__search", available=True,
                        description="Search", usage_count=3)  # fmt: skip
    return server


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_anonymous_and_non_staff_users_are_refused(server, method, path):
    url = path.format(server=server.pk, tool=server.tools.get().pk)
    anonymous = getattr(APIClient(), method)(url)
    assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"] == "Token"
    client = APIClient()
    client.force_login(get_user_model().objects.create_user("plain", password="pw"))
    assert getattr(client, method)(url).status_code == 403
    assert McpServer.objects.filter(pk=server.pk).exists()


def test_server_crud_with_secrets_masked_everywhere(staff_client, token_client):
    body = {
        "name": "amap",
        "transport": "sse",
        "url": f"https://mcp.amap.com/sse?key={SECRET_MARK}1",
        "headers": {"X-Api-Key": f"{SECRET_MARK}2"},
        "replicaUrls": [f"https://mcp2.amap.com/sse?key={SECRET_MARK}3"],
        "callTimeout": 12,
        "loadBalance": "health-based",
    }
    response = staff_client.post("/api/mcp-servers", body, format="json")
    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["url"] == "https://mcp.amap.com/sse?key=***"
    assert created["headers"] == {"X-Api-Key": "***"}
    assert created["replicaUrls"] == ["https://mcp2.amap.com/sse?key=***"]
    assert (created["state"], created["toolCount"], created["callTimeout"]) == ("starting", 0, 12)
    server = McpServer.objects.get(pk=created["id"])
    assert server.url.endswith(f"{SECRET_MARK}1") and server.headers["X-Api-Key"].endswith("2")

    # PATCH back what was read (masked): the stored secrets stay; new values replace.
    read = token_client.get(f"/api/mcp-servers/{server.pk}").json()
    patch = {"url": read["url"], "headers": {**read["headers"], "X-Other": "v"},
             "replicaUrls": read["replicaUrls"], "enabled": False}  # fmt: skip
    response = staff_client.patch(f"/api/mcp-servers/{server.pk}", patch, format="json")
    assert response.status_code == 200, response.json()
    server.refresh_from_db()
    assert server.url.endswith(f"{SECRET_MARK}1") and not server.enabled
    assert server.headers == {"X-Api-Key": f"{SECRET_MARK}2", "X-Other": "v"}
    assert server.replica_urls == [f"https://mcp2.amap.com/sse?key={SECRET_MARK}3"]

    stdio = staff_client.post(
        "/api/mcp-servers",
        {"name": "calc", "command": "python", "args": ["calc.py"], "env": {"K": SECRET_MARK}},
        format="json",
    ).json()
    assert stdio["transport"] == "stdio" and stdio["env"] == {"K": "***"}

    everything = json.dumps(
        [staff_client.get("/api/mcp-servers").json(), staff_client.get("/api/tools").json()]
    )
    assert SECRET_MARK not in everything and "amap" in everything
    assert staff_client.delete(f"/api/mcp-servers/{server.pk}").status_code == 204
    assert staff_client.get(f"/api/mcp-servers/{server.pk}").status_code == 404


@pytest.mark.parametrize(
    ("body", "key", "fragment"),
    [
        ({"name": "a__b", "command": "x"}, "name", "'__'"),
        ({"name": "ok", "transport": "sse", "url": f"ftp://h/?token={SECRET_MARK}"}, "url",
         "not an http:// or https:// URL"),
        ({"name": "ok", "transport": "streamable-http"}, "url", "needs a URL"),
        ({"name": "ok"}, "command", "needs a command"),
        ({"name": "ok", "command": "x", "loadBalance": "best"}, "loadBalance", "valid choice"),
        ({"name": "taken", "command": "x"}, "name", "already exists"),
    ],
)  # fmt: skip
def test_bad_servers_get_a_400_naming_the_field(staff_client, body, key, fragment):
    stdio_server(name="taken")
    response = staff_client.post("/api/mcp-servers", body, format="json")
    assert response.status_code == 400
    errors = response.json()
    assert key in errors and fragment in json.dumps(errors[key]), errors
    assert SECRET_MARK not in json.dumps(errors)
    assert McpServer.objects.count() == 1


def test_tools_list_filters_and_patch(staff_client, server):
    other = stdio_server()
    other.tools.create(upstream_name="add", exposed_name="calc__add", enabled=False)
    tools = staff_client.get("/api/tools").json()["results"]
    assert [t["name"] for t in tools] == ["calc__add", "web__search"]
    assert tools[1]["usageCount"] == 3 and tools[1]["effectiveTimeout"] == 30.0

    def names(query: str) -> list[str]:
        return [t["name"] for t in staff_client.get(f"/api/tools?{query}").json()["results"]]

    assert names("server=web") == ["web__search"]
    assert names(f"server={other.pk}") == ["calc__add"]
    assert names("enabled=false") == ["calc__add"]
    assert staff_client.get("/api/tools?enabled=maybe").status_code == 400

    tool = Tool.objects.get(exposed_name="web__search")
    response = staff_client.patch(
        f"/api/tools/{tool.pk}",
        {"enabled": False, "descriptionOverride": "Find pages", "timeout": 4},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["descriptionOverride"] == "Find pages"
    tool.refresh_from_db()
    assert (tool.enabled, tool.description_override, tool.timeout) == (False, "Find pages", 4.0)
    response = staff_client.patch(
        f"/api/tools/{tool.pk}", {"descriptionOverride": None, "timeout": None}, format="json"
    )
    tool.refresh_from_db()
    assert (tool.description_override, tool.timeout) == ("", None)
    assert (
        staff_client.patch(f"/api/tools/{tool.pk}", {"timeout": 0}, format="json").status_code
        == 400
    )
    assert staff_client.get("/api/tools/999999").status_code == 404


@pytest.mark.requires_services("redis")
def test_every_change_sends_a_reload_after_commit(
    staff_client, server, django_capture_on_commit_callbacks
):
    tool = server.tools.get()
    with control_messages() as seen, django_capture_on_commit_callbacks(execute=True):
        staff_client.patch(f"/api/tools/{tool.pk}", {"enabled": False}, format="json")
    assert [m["op"] for m in seen] == ["reload"]
    with control_messages() as seen, django_capture_on_commit_callbacks(execute=True):
        staff_client.patch(f"/api/mcp-servers/{server.pk}", {"callTimeout": 3}, format="json")
    assert [m["op"] for m in seen] == ["reload"]
    # The worker's own stores never send one (they would loop back to it).
    from endpoints.upstreams.records import UpstreamTool

    with control_messages() as seen, django_capture_on_commit_callbacks(execute=True):
        tool_catalog_store(server_id=server.pk, tools=[UpstreamTool("new", "", {})])
    assert seen == []


def test_tool_call_without_a_running_pool_is_a_clear_503(staff_client, server):
    response = staff_client.post(
        "/api/tools/call", {"name": "web__search", "arguments": {"q": "x"}}, format="json"
    )
    assert response.status_code == 503
    body = response.json()
    assert body["poolRunning"] is False and "running" in body["error"]["message"]
    bad = staff_client.post("/api/tools/call", {"arguments": []}, format="json")
    assert bad.status_code == 400 and "name" in bad.json()


def test_call_reply_shaping_passes_the_rpc_error_and_result_through():
    replies = [
        {"worker": "w1", "skipped": True},
        {"worker": "w2", "durationMs": 3.2,
         "response": {"jsonrpc": "2.0", "id": 0, "error": {"code": -32002, "message": "timeout"}}},
    ]  # fmt: skip
    assert tool_call_reply(name="a__b", replies=replies) == {
        "name": "a__b",
        "worker": "w2",
        "durationMs": 3.2,
        "error": {"code": -32002, "message": "timeout"},
    }
    result = {"content": [{"type": "text", "text": "boom"}], "isError": True}
    shaped = tool_call_reply(
        name="a__b", replies=[{"worker": "w", "response": {"id": 0, "result": result}}]
    )
    assert shaped["result"] == result and "error" not in shaped
    assert tool_call_reply(name="a__b", replies=[{"skipped": True}])["poolRunning"] is False


def test_call_log_tail(staff_client):
    ToolCall.objects.bulk_create(
        [ToolCall(tool="web__search", outcome="ok", duration_ms=i) for i in range(5)]
        + [ToolCall(tool="calc__add", outcome="timeout", error="no answer")]
    )
    ids = list(ToolCall.objects.order_by("id").values_list("id", flat=True))
    body = staff_client.get("/api/tools/calls?page_size=2").json()
    assert [c["id"] for c in body["results"]] == [ids[5], ids[4]]
    older = staff_client.get(body["next"]).json()  # the next page: older calls
    assert [c["id"] for c in older["results"]] == [ids[3], ids[2]]
    body = staff_client.get(f"/api/tools/calls?after={ids[3]}").json()
    assert [c["id"] for c in body["results"]] == [ids[4], ids[5]]
    body = staff_client.get("/api/tools/calls?outcome=timeout&tool=calc__add").json()
    assert [(c["tool"], c["error"]) for c in body["results"]] == [("calc__add", "no answer")]
    assert staff_client.get("/api/tools/calls?outcome=meh").status_code == 400
    assert staff_client.get("/api/tools/calls?after=x").status_code == 400


def test_a_name_clash_is_shown_on_the_tool_that_is_not_offered(staff_client):
    from endpoints.upstreams.records import UpstreamTool

    server = stdio_server()
    schema = {"type": "object"}
    tool_catalog_store(
        server_id=server.pk,
        tools=[UpstreamTool("weather.get", "a", schema), UpstreamTool("weather:get", "b", schema)],
    )
    tools = {t["upstreamName"]: t for t in staff_client.get("/api/tools").json()["results"]}
    assert tools["weather.get"]["name"] == tools["weather:get"]["name"] == "calc__weather_get"
    assert tools["weather.get"]["shadowedBy"] is None
    assert tools["weather:get"]["shadowedBy"] == "weather.get"

    # Disabling the winner settles the clash, as in the runtime.
    winner = Tool.objects.get(upstream_name="weather.get")
    staff_client.patch(f"/api/tools/{winner.pk}", {"enabled": False}, format="json")
    loser = Tool.objects.get(upstream_name="weather:get")
    assert staff_client.get(f"/api/tools/{loser.pk}").json()["shadowedBy"] is None
