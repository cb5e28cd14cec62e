"""Live answers of the real app, with real rows behind them, against the OpenAPI schema
the hub serves: every GET operation, the writes, the report endpoint and the errors.

A view whose answer drifts from its documented shape (a new key that is not
described, a null where the schema promises a number, a status it does not list)
fails here.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework.throttling import UserRateThrottle

from endpoints.models import Endpoint, ToolCall
from endpoints.pool.status import EndpointStatus
from endpoints.services.endpoint_status import endpoint_status_store
from endpoints.services.mcp_server_status import tool_catalog_store
from endpoints.upstreams.records import UpstreamTool
from tests.console.helpers import REPORT_PATH, REPORT_SECRET, report_body
from tests.services import api_token

pytestmark = pytest.mark.requires_services("mysql", "redis")

MAC = "aa:bb:cc:00:11:22"
SESSION = "schema-session"
ENDPOINT_SECRET = "SchemaSecretToken"
SERVER_SECRET = "SchemaServerKey"


@pytest.fixture
def world(api, validated, settings):
    """Rows behind every route, made through the API itself where it can (so those
    writes are checked against the schema as well)."""
    settings.HUB_REPORT_SECRET = REPORT_SECRET
    settings.HUB_POOL_CONTROL_TIMEOUT = 1  # no pool runs: its requests give up soon
    reporter = Client()
    for content, chat_type, session in (
        ("你好", 1, SESSION),
        ("你好！有什么可以帮你？", 2, SESSION),
        ('[{"type":"tool","text":"get_weather({\\"city\\": \\"上海\\"})"}]', 3, SESSION),
        ("another session", 1, "second-session"),
    ):
        body = report_body(MAC, content, session=session, chat_type=chat_type)
        response = validated(
            reporter, "POST", REPORT_PATH, body=body, authorization=f"Bearer {REPORT_SECRET}"
        )
        assert response.status_code == 200, response.content

    endpoint = validated(
        api,
        "POST",
        "/api/endpoints",
        body={
            "name": "relay",
            "url": f"wss://api.xiaozhi.me/mcp/?token={ENDPOINT_SECRET}",
            "options": {"healthCheckInterval": 15000, "jitter": False},
        },
    ).json()
    # What a pool worker reports: live status with history, and a state change event.
    Endpoint.objects.filter(pk=endpoint["id"]).update(
        owner="w1:1:a", lease_expires_at=timezone.now() + timedelta(minutes=5)
    )
    status = EndpointStatus(
        endpoint_id=endpoint["id"], name="relay", url="wss://x/?token=t", state="connected",
        connected=True, initialized=True, last_connected=timezone.now(), health_score=97.5,
        rtt_ms=41.5, rtt_p95_ms=80.0, rtt_history=[40.0, 43.0], total_requests=10,
        successful_requests=9,
        reconnect_history=[{"at": timezone.now(), "error_class": "network",
                            "error": "refused", "delay": 1.5}],
    )  # fmt: skip
    endpoint_status_store(worker="w1:1:a", changes=[(status, "connecting")], latest=[])

    server = validated(
        api,
        "POST",
        "/api/mcp-servers",
        body={
            "name": "amap",
            "transport": "sse",
            "url": f"https://mcp.example/sse?key={SERVER_SECRET}",
            "headers": {"X-Key": SERVER_SECRET},
        },
    ).json()
    tool_catalog_store(
        server_id=server["id"],
        tools=[UpstreamTool("search", "Search places", {"type": "object", "properties": {}})],
    )
    tool = api.get("/api/tools").json()["results"][0]
    ToolCall.objects.create(
        tool=tool["name"], tool_ref_id=tool["id"], server_id=server["id"],
        endpoint_id=endpoint["id"], duration_ms=12.5, outcome="ok",
        arguments='{"q": "coffee"}', result="3 places",
    )  # fmt: skip
    ToolCall.objects.create(tool="nope__x", duration_ms=1, outcome="not_found", error="unknown")
    custom_tool = validated(
        api,
        "POST",
        "/api/custom-tools",
        body={
            "name": "weather",
            "inputSchema": {"type": "object", "properties": {}},
            "handler": {
                "type": "http",
                "url": f"https://api.example/w?key={SERVER_SECRET}",
                "auth": {"type": "bearer", "token": SERVER_SECRET},
            },
        },
    ).json()
    platform = validated(
        api,
        "POST",
        "/api/platforms",
        body={
            "name": "coze",
            "settings": {"token": SERVER_SECRET, "baseUrl": "https://api.coze.cn"},
        },
    ).json()

    source = validated(
        api,
        "POST",
        "/api/v2/sources",
        body={"key": "site-a", "kind": "mysql", "url": f"mysql://u:{SERVER_SECRET}@db/xz"},
    ).json()
    from chathistory.audio.storage import store_audio
    from chathistory.models import Agent, ChatMessage, ChatSession, Device, Source

    # The reports' source plays audio: one message has some.
    Source.objects.create(key="esp32", kind="mysql", audio_mode="lazy", from_environment=True)
    message = ChatMessage.objects.order_by("pk").first()
    store_audio(message_id=message.pk, data=b"RIFF" + bytes(40))
    agent = Agent.objects.create(source="esp32", agent_id="schema-agent", name="schema")
    access = validated(api, "PUT", f"/api/recall/access/{endpoint['id']}", body={"agent": agent.pk})
    assert access.status_code == 201, access.content

    policy = validated(
        api,
        "POST",
        "/api/v2/retention/policies",
        body={"scope": "source", "source": "esp32", "keep_messages_days": 3650},
    )
    assert policy.status_code == 201, policy.content

    device = Device.objects.get()
    return {
        "policy_id": policy.json()["id"],
        "key": source["key"],
        "message_pk": message.pk,
        "endpoint_id": endpoint["id"],
        "server_id": server["id"],
        "tool_id": tool["id"],
        "custom_tool_id": custom_tool["id"],
        "platform_id": platform["id"],
        "id": device.pk,  # drf-spectacular names a route's `pk` `id`
        "session_pk": ChatSession.objects.get(session_id=SESSION).pk,
        "device_id": MAC,
        "session_id": SESSION,
    }


def operations(schema: dict, method: str) -> list[str]:
    return sorted(path for path, item in schema["paths"].items() if method in item)


def parameters_of(template: str, world: dict) -> dict:
    names = [part[1:-1] for part in template.split("/") if part.startswith("{")]
    missing = [name for name in names if name not in world]
    assert not missing, f"{template}: the test has no row for {missing}; add one to `world`"
    return {name: str(world[name]) for name in names}


def test_every_get_operation_answers_as_documented(api, schema, world, validated):
    gets = operations(schema, "get")
    assert "/api/v2/devices/{id}/history" in gets and "/api/tools/calls" in gets
    for template in gets:
        response = validated(api, "GET", template, parameters_of(template, world))
        assert response.status_code in (200, 503), (template, response.content[:300])
    # With data behind them, the answers carry it (a schema check of empty lists
    # would prove little).
    endpoints = api.get("/api/endpoints").json()["results"]
    assert endpoints[0]["status"]["reconnectHistory"][0]["error_class"] == "network"
    assert endpoints[0]["url"] == "wss://api.xiaozhi.me/mcp/?token=***"
    history = api.get(f"/api/v2/devices/{world['id']}/history").json()
    assert {m["role"] for s in history["sessions"] for m in s["messages"]} == {
        "user",
        "agent",
        "tool",
    }


def test_lists_filters_and_pages_answer_as_documented(api, world, validated):
    for template, query in (
        ("/api/endpoints", "page_size=1"),
        ("/api/tools", "enabled=true&server=amap"),
        ("/api/tools/calls", "outcome=ok&page_size=1"),
        ("/api/tools/calls", "after=0"),
        ("/api/v2/devices", "q=aa:bb"),
        ("/api/v2/devices/{id}/history", "role=user&page_size=1"),
        ("/api/v2/devices/{id}/sessions/{session_pk}/messages", "q=你好"),
    ):
        response = validated(api, "GET", template, parameters_of(template, world), query=query)
        assert response.status_code == 200, response.content[:300]
    page = api.get("/api/tools/calls?page_size=1").json()
    assert len(page["results"]) == 1 and page["next"]
    following = validated(
        api, "GET", "/api/tools/calls", query=page["next"].split("?", 1)[1]
    ).json()
    assert following["results"][0]["id"] != page["results"][0]["id"]


def test_writes_answer_as_documented(api, world, validated):
    endpoint, tool, server = (world[k] for k in ("endpoint_id", "tool_id", "server_id"))
    ids = {"endpoint_id": str(endpoint), "tool_id": str(tool), "server_id": str(server)}
    changed = validated(
        api,
        "PATCH",
        "/api/endpoints/{endpoint_id}",
        ids,
        {"enabled": False, "options": {"jitter": None, "reconnectStrategy": "adaptive"}},
    )
    assert changed.status_code == 200 and changed.json()["status"]["state"] == "disabled"
    read_back = api.get(f"/api/endpoints/{endpoint}").json()
    replaced = validated(
        api,
        "PUT",
        "/api/endpoints/{endpoint_id}",
        ids,
        {"name": "relay2", "url": read_back["url"], "healthCheckEnabled": False},
    )
    assert replaced.status_code == 200 and replaced.json()["name"] == "relay2"
    assert (
        validated(api, "PATCH", "/api/pool/options", body={"healthCheckInterval": 20000}).json()[
            "healthCheckInterval"
        ]
        == 20000
    )
    assert (
        validated(api, "PUT", "/api/pool/options", body={"loadBalanceStrategy": "random"}).json()[
            "loadBalanceStrategy"
        ]
        == "random"
    )
    tuned = validated(
        api, "PATCH", "/api/tools/{tool_id}", ids, {"descriptionOverride": "地点", "timeout": 5}
    )
    assert tuned.json()["descriptionOverride"] == "地点"
    renamed = validated(api, "PATCH", "/api/mcp-servers/{server_id}", ids, {"callTimeout": 12})
    assert renamed.json()["callTimeout"] == 12 and SERVER_SECRET not in renamed.content.decode()
    # No pool runs in this test: the pool requests answer their documented 503s.
    assert validated(api, "POST", "/api/endpoints/{endpoint_id}/reconnect", ids).status_code == 503
    assert validated(api, "POST", "/api/endpoints/{endpoint_id}/check", ids).status_code in (
        200,
        503,
    )
    assert validated(api, "POST", "/api/endpoints/check").status_code in (200, 503)
    probe = validated(api, "POST", "/api/endpoints/probe", body={"method": "ping", "timeout": 1})
    assert probe.status_code == 503 and probe.json()["method"] == "ping"
    call = validated(api, "POST", "/api/tools/call", body={"name": "amap__search"})
    assert call.status_code == 503 and call.json()["poolRunning"] is False
    # The world's sources (site-a, and esp32 without ESP32_DATABASE_URL): site-a is queued.
    sync = validated(api, "POST", "/api/v2/sync", body={"full": True})
    assert sync.status_code == 202, sync.content
    assert validated(api, "DELETE", "/api/mcp-servers/{server_id}", ids).status_code == 204
    assert validated(api, "DELETE", "/api/endpoints/{endpoint_id}", ids).status_code == 204


def test_errors_answer_as_documented(api, world, validated, django_user_model, monkeypatch):
    ids = {"endpoint_id": "999999"}
    anonymous = validated(APIClient(), "GET", "/api/endpoints", valid_request=False)
    assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"] == "Token"
    staff = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    refused = validated(
        APIClient(), "GET", "/api/status", authorization=f"Token {api_token(staff)}"
    )
    assert refused.status_code == 403 and "endpoints.view_endpoint" in refused.json()["detail"]
    assert validated(api, "GET", "/api/endpoints/{endpoint_id}", ids).status_code == 404
    assert validated(api, "GET", "/api/endpoints", query="cursor=bogus").status_code == 404
    bad = validated(api, "POST", "/api/endpoints", body={"name": ""}, valid_request=False)
    assert bad.status_code == 400 and set(bad.json()) == {"name", "url"}
    nested = validated(
        api,
        "PATCH",
        "/api/endpoints/{endpoint_id}",
        {"endpoint_id": str(world["endpoint_id"])},
        {"options": {"jitter": "often"}},
        valid_request=False,
    )
    assert nested.status_code == 400 and "jitter" in nested.json()["options"]
    assert (
        validated(api, "GET", "/api/tools", query="enabled=maybe", valid_request=False).status_code
        == 400
    )
    unreadable = api.post("/api/endpoints", "{oops", content_type="application/json")
    assert unreadable.status_code == 400 and "JSON parse error" in unreadable.json()["detail"]
    # Throttled: DRF's 429 and its detail.
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "1/min", "anon": "1/min"})
    cache.clear()
    api.get("/api/status")
    throttled = validated(api, "GET", "/api/status")
    assert throttled.status_code == 429 and "throttled" in throttled.json()["detail"]
    cache.clear()


def test_report_endpoint_errors_answer_as_documented(world, validated):
    reporter = Client()
    body = report_body(MAC, "x")
    auth = f"Bearer {REPORT_SECRET}"
    assert (
        validated(
            reporter,
            "POST",
            REPORT_PATH,
            body=body,
            authorization="Bearer wrong",
            valid_request=False,
        ).status_code
        == 401
    )
    late = {**body, "reportTime": int(time.time() * 1000) + 3 * 86_400_000}
    refused = validated(reporter, "POST", REPORT_PATH, body=late, authorization=auth)
    assert refused.status_code == 400 and "reportTime" in refused.json()["msg"]
