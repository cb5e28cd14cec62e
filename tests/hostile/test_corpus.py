"""The hostile-input corpus (reports.json, rest_bodies.json, console_frames.json) against
the real ASGI application (xiaozhi_hub.asgi: real database, real channel layer).

Every case gets its documented answer (a 4xx or an `error` frame, never a 500 or
a dropped socket), changes no row of the hub, and a good request afterwards works.
"""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async
from channels.testing import HttpCommunicator, WebsocketCommunicator
from django.apps import apps
from django.conf import settings

from tests.hostile.corpus import load, merged, render
from xiaozhi_hub.asgi import application

pytestmark = [
    pytest.mark.requires_services("mysql", "redis"),
    pytest.mark.django_db(transaction=True),
]

REPORTS = load("reports.json")
REST = load("rest_bodies.json")
FRAMES = load("console_frames.json")
REPORT_PATH = "/xiaozhi/agent/chat-history/report"
REPORT_SECRET = "hostile-corpus-report-secret"
MAC = "aa:bb:cc:00:00:01"
TIMEOUT = 60  # seconds for one answer: bodies of megabytes on a busy CI machine


# Counting a refused report is the point of the ingest history: not "stored".
COUNTERS = {"chathistory.IngestBucket"}


def hub_rows() -> dict[str, list[dict]]:
    """Every row of the hub's two apps: equal before and after means nothing was stored."""
    return {
        model._meta.label: list(model.objects.order_by("pk").values())
        for label in ("chathistory", "endpoints")
        for model in apps.get_app_config(label).get_models()
        if model._meta.label not in COUNTERS
    }


async def http(method: str, path: str, body: bytes, headers: dict[str, str]):
    """One request through the ASGI application: (status, body text)."""
    header_list = [(b"host", b"localhost"), (b"content-type", b"application/json")]
    header_list.append((b"content-length", str(len(body)).encode()))  # as real clients send
    header_list += [(name.encode(), value.encode()) for name, value in headers.items()]
    communicator = HttpCommunicator(application, method, path, body=body, headers=header_list)
    response = await communicator.get_response(timeout=TIMEOUT)
    return response["status"], response["body"].decode("utf-8", "replace")


def oversize_body(extra: dict) -> bytes:
    """A JSON object one byte over DATA_UPLOAD_MAX_MEMORY_SIZE."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = json.dumps({**extra, "pad": ""}).encode()
    return json.dumps({**extra, "pad": "x" * (limit + 1 - len(body))}).encode()


# --- Reports -----------------------------------------------------------------------------


@pytest.fixture
def report_secret(settings):
    settings.HUB_REPORT_SECRET = REPORT_SECRET


def good_report(**overrides) -> dict:
    import time

    report = {
        "macAddress": MAC,
        "sessionId": "hostile-s1",
        "chatType": 1,
        "content": "hello",
        "reportTime": int(time.time() * 1000),
    }
    return {**report, **overrides}


def report_bytes(case: dict) -> bytes:
    if "text" in case:
        return case["text"].encode()
    if "hex" in case:
        return bytes.fromhex(case["hex"])
    if "body" in case:
        return render(case["body"]).encode()
    if case.get("oversize"):
        return oversize_body(good_report())
    return render(merged(good_report(), case["report"])).encode()


async def post_report(body: bytes):
    status, text = await http(
        "POST", REPORT_PATH, body, {"authorization": f"Bearer {REPORT_SECRET}"}
    )
    return status, json.loads(text)  # always the manager-api JSON shape, never HTML


@pytest.mark.parametrize("case", [pytest.param(c, id=c["id"]) for c in REPORTS["refused"]])
async def test_bad_reports_get_a_json_4xx_and_store_nothing(report_secret, case):
    before = await sync_to_async(hub_rows)()
    status, answer = await post_report(report_bytes(case))
    assert (status, answer["code"]) == (case["status"], case["status"]), answer
    assert answer["data"] is False and case["says"] in answer["msg"], answer
    assert await sync_to_async(hub_rows)() == before

    status, answer = await post_report(json.dumps(good_report()).encode())
    assert (status, answer) == (200, {"code": 0, "msg": "success", "data": True})


@pytest.mark.parametrize(
    "case",
    [pytest.param(c, id=c["id"]) for c in REPORTS["accepted"]],
)
async def test_odd_but_valid_reports_are_stored_once(report_secret, case):
    from chathistory.models import ChatMessage

    body = report_bytes(case)
    for _ in range(2):  # the core's retry of the same report stores nothing more
        status, answer = await post_report(body)
        assert (status, answer["code"]) == (200, 0), answer
    sent = json.loads(body)
    stored = await sync_to_async(lambda: list(ChatMessage.objects.values("role", "content")))()
    assert len(stored) == 1
    if sent["chatType"] != 3:  # tool rows keep the text of their items instead
        assert stored[0]["content"] == sent["content"]


# --- REST and /console/request bodies ------------------------------------------------------


@pytest.fixture
def rows(transactional_db):
    """An endpoint, an MCP server and one of its tools, for the routes that name them."""
    from endpoints.services.endpoint import endpoint_create
    from endpoints.services.mcp_server import mcp_server_create

    endpoint = endpoint_create(
        name="hostile-ep", url="wss://api.xiaozhi.me/mcp/?token=hostile.token.sig", enabled=False
    )
    server = mcp_server_create(
        name="calc", transport="stdio", command="python", args=["calc.py"], enabled=False
    )
    tool = server.tools.create(upstream_name="add", exposed_name="calc__add", available=True)
    return {"endpoint": endpoint.pk, "server": server.pk, "tool": tool.pk}


@pytest.fixture
def superuser_token(transactional_db):
    from django.contrib.auth import get_user_model

    from tests.services import api_token

    user = get_user_model().objects.create_user(
        "hostile-admin", password="pw", is_staff=True, is_superuser=True
    )
    return api_token(user)


def rest_cases():
    routes = {(route["method"], route["path"]): route for route in REST["routes"]}
    for route in REST["routes"]:
        for body in REST["bodies"]:
            case = {**body, **route.get("answers", {}).get(body["id"], {}), "route": route}
            yield pytest.param(case, id=f"{route['method']} {route['path']} {body['id']}")
    for case in REST["cases"]:
        route = routes[(case["method"], case["path"])]
        case_id = f"{case['method']} {case['path']} {case['id']}"
        yield pytest.param({**case, "route": route}, id=case_id)


@pytest.mark.parametrize("case", list(rest_cases()))
async def test_hostile_bodies_get_a_4xx_on_every_route(rows, superuser_token, case):
    route = case["route"]
    path = route["path"].format(**rows)
    headers = {"authorization": f"Token {superuser_token}"}
    body = oversize_body({}) if case.get("oversize") else render(case["body"]).encode()

    before = await sync_to_async(hub_rows)()
    status, text = await http(route["method"], path, body, headers)
    assert status == case["status"] and case["says"] in text, text[:500]
    json.loads(text)  # a JSON answer (DRF's detail, or the console's error frame)
    assert await sync_to_async(hub_rows)() == before

    good = json.dumps(route["good"]).encode()
    status, text = await http(route["method"], path, good, headers)
    assert status == route["good_status"], text[:500]


# --- Console WebSocket frames --------------------------------------------------------------


@pytest.fixture
def console_registry(settings):
    """An empty connection registry, so earlier tests' sockets cannot refuse this one."""
    import redis

    from tests.services import REDIS_URL
    from xiaozhi_hub.console.limits import connections, registry_key

    settings.HUB_CONSOLE_MAX_SUBSCRIBERS = 100
    redis.Redis.from_url(REDIS_URL).delete(registry_key())
    connections.local.clear()


@pytest.mark.parametrize("case", [pytest.param(c, id=c["id"]) for c in FRAMES["cases"]])
async def test_hostile_frames_get_an_error_frame_and_the_socket_stays_open(
    console_registry, superuser_token, case
):
    headers = [
        (b"origin", b"http://localhost"),
        (b"host", b"localhost"),
        (b"authorization", f"Token {superuser_token}".encode()),
    ]
    ws = WebsocketCommunicator(application, "/ws/console/", headers=headers)
    connected, _ = await ws.connect()
    assert connected
    assert (await ws.receive_json_from(timeout=10))["type"] == "hello"

    before = await sync_to_async(hub_rows)()
    if "hex" in case:
        await ws.send_to(bytes_data=bytes.fromhex(case["hex"]))
    else:
        await ws.send_to(text_data=case["text"] if "text" in case else render(case["frame"]))
    output = await ws.receive_output(timeout=10)
    assert output["type"] == "websocket.send", output  # not a close
    error = json.loads(output["text"])
    assert error["type"] == "error" and error["channel"] == "system", error
    assert case["says"] in error["payload"]["reason"], error
    assert await sync_to_async(hub_rows)() == before

    await ws.send_json_to({"id": "hb-after", "type": "heartbeat"})
    reply = await ws.receive_json_from(timeout=10)
    assert (reply["id"], reply["type"]) == ("hb-after", "heartbeat")
    await ws.disconnect()
