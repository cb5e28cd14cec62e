"""The permission matrix: every route of the URLconf and of the console's WebSocket,
with every identity, and the status each gets.

A route that is not in the matrix fails `test_every_route_is_in_the_matrix`, so no
new route can be left open by accident: add its row (and its permission) here.

Cells: an HTTP status; `login` = a redirect to the admin login; `a|b` = either
(the health check answers 503 when a service is down; a check without a running
pool answers 503). Requests that would change something carry a body the view
refuses (400) once the permission check has passed, or run inside a rolled-back
transaction, so the matrix changes nothing.
"""

# ruff: noqa: E501 - the matrices are tables, one row per line

from __future__ import annotations

import json

import pytest
from channels.testing import WebsocketCommunicator
from django.core.cache import cache
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from endpoints.models import CustomTool, Endpoint, McpServer, Platform, Tool
from tests.access.identities import IDENTITIES, make_user
from tests.console.helpers import REPORT_SECRET, ingest
from xiaozhi_hub.console.routing import websocket_urlpatterns

MAC = "aa:bb:cc:00:00:aa"
SESSION = "matrix-session"

# route (as in the URLconf; <param> filled from the test's objects), method, body,
# then the status per identity: anonymous, staff (no permissions), viewer, operator,
# administrator, superuser.
MATRIX = """
route                                                  method  body                anon   staff  viewer operator admin  super
/                                                      GET     -                   302    302    302    302      302    302
/                                                      POST    -                   302    302    302    302      302    302
/                                                      PUT     -                   302    302    302    302      302    302
/                                                      PATCH   -                   302    302    302    302      302    302
/                                                      DELETE  -                   302    302    302    302      302    302
/api/health                                            GET     -                   200|503 200|503 200|503 200|503 200|503 200|503
/i18n/setlang/                                         GET     -                   302    302    302    302      302    302
/i18n/setlang/                                         POST    -                   302    302    302    302      302    302
/jsi18n/                                               GET     -                   200    200    200    200      200    200
/metrics                                               GET     -                   403    403    403    403      403    403
/xiaozhi/agent/chat-history/report                     POST    {}                  401    401    401    401      401    401
/api/status                                            GET     -                   401    403    200    200      200    200
/api/endpoints                                         GET     -                   401    403    200    200      200    200
/api/endpoints                                         POST    {}                  401    403    403    403      400    400
/api/endpoints/check                                   POST    -                   401    403    403    200|503  200|503 200|503
/api/endpoints/probe                                   POST    {"method":"x"}      401    403    403    400      400    400
/api/endpoints/<int:endpoint_id>                       GET     -                   401    403    200    200      200    200
/api/endpoints/<int:endpoint_id>                       PUT     {}                  401    403    403    400      400    400
/api/endpoints/<int:endpoint_id>                       PATCH   {}                  401    403    403    200      200    200
/api/endpoints/<int:endpoint_id>                       DELETE  -                   401    403    403    403      204    204
/api/endpoints/<int:endpoint_id>/reconnect             POST    -                   401    403    403    503      503    503
/api/endpoints/<int:endpoint_id>/check                 POST    -                   401    403    403    200|503  200|503 200|503
/api/endpoints/<int:endpoint_id>/history               GET     -                   401    403    200    200      200    200
/api/pool/options                                      GET     -                   401    403    200    200      200    200
/api/pool/options                                      PUT     {}                  401    403    403    200      200    200
/api/pool/options                                      PATCH   {}                  401    403    403    200      200    200
/api/mcp-servers                                       GET     -                   401    403    200    200      200    200
/api/mcp-servers                                       POST    {}                  401    403    403    403      400    400
/api/mcp-servers/<int:server_id>                       GET     -                   401    403    200    200      200    200
/api/mcp-servers/<int:server_id>                       PATCH   {}                  401    403    403    403      200    200
/api/mcp-servers/<int:server_id>                       DELETE  -                   401    403    403    403      204    204
/api/mcp-servers/<int:server_id>/history               GET     -                   401    403    200    200      200    200
/api/tools                                             GET     -                   401    403    200    200      200    200
/api/tools/call                                        POST    {}                  401    403    403    400      400    400
/api/tools/calls                                       GET     -                   401    403    200    200      200    200
/api/tools/<int:tool_id>                               GET     -                   401    403    200    200      200    200
/api/tools/<int:tool_id>                               PATCH   {}                  401    403    403    200      200    200
/api/custom-tools                                      GET     -                   401    403    200    200      200    200
/api/custom-tools                                      POST    {}                  401    403    403    403      400    400
/api/custom-tools/<int:custom_tool_id>                 GET     -                   401    403    200    200      200    200
/api/custom-tools/<int:custom_tool_id>                 PATCH   {}                  401    403    403    403      200    200
/api/custom-tools/<int:custom_tool_id>                 DELETE  -                   401    403    403    403      204    204
/api/platforms                                         GET     -                   401    403    200    200      200    200
/api/platforms                                         POST    {}                  401    403    403    403      400    400
/api/platforms/<int:platform_id>                       GET     -                   401    403    200    200      200    200
/api/platforms/<int:platform_id>                       PATCH   {}                  401    403    403    403      200    200
/api/platforms/<int:platform_id>                       DELETE  -                   401    403    403    403      204    204
/api/v2/devices                                        GET     -                   401    403    200    200      200    200
/api/v2/messages                                       GET     -                   401    403    200    200      200    200
/api/v2/messages/export                                GET     -                   401    403    200    200      200    200
/api/v2/devices/<int:pk>/export                        GET     -                   401    403    200    200      200    200
/api/v2/devices/<int:pk>/sessions/<int:session_pk>/export GET -                    401    403    200    200      200    200
/api/v2/devices/<int:pk>/history                       GET     -                   401    403    200    200      200    200
/api/v2/devices/<int:pk>/sessions                      GET     -                   401    403    200    200      200    200
/api/v2/devices/<int:pk>/sessions/<int:session_pk>/messages GET -                  401    403    200    200      200    200
/api/v2/chat-history/<str:device_id>                   GET     -                   401    403    200    200      200    200
/api/v2/sessions/<str:session_id>/messages             GET     -                   401    403    200    200      200    200
/api/v2/sessions/<str:device_id>                       GET     -                   401    403    200    200      200    200
/api/v2/sync/status                                    GET     -                   401    403    200    200      200    200
/api/v2/sync/history                                   GET     -                   401    403    200    200      200    200
/api/v2/sync                                           POST    {"full":"x"}        401    403    403    400      400    400
/api/v2/messages/<int:message_pk>/audio                GET     -                   401    403    200    200      200    200
/api/v2/sources                                        GET     -                   401    403    200    200      200    200
/api/v2/sources                                        POST    {}                  401    403    403    403      400    400
/api/v2/sources/<slug:key>                             GET     -                   401    403    200    200      200    200
/api/v2/sources/<slug:key>                             PATCH   {"kind":"x"}        401    403    403    403      400    400
/api/v2/sources/<slug:key>                             DELETE  -                   401    403    403    403      200    200
/api/v2/retention/policies                             GET     -                   401    403    200    200      200    200
/api/v2/retention/policies                             POST    {}                  401    403    403    403      400    400
/api/v2/retention/policies/<int:policy_id>             GET     -                   401    403    200    200      200    200
/api/v2/retention/policies/<int:policy_id>             PATCH   {"keep_messages_days":-1} 401 403 403 403   400    400
/api/v2/retention/policies/<int:policy_id>             DELETE  -                   401    403    403    403      204    204
/api/v2/retention/runs                                 GET     -                   401    403    200    200      200    200
/api/v2/retention/devices/<int:pk>                     DELETE  {}                  401    403    403    403      400    400
/api/recall/access                                     GET     -                   401    403    200    200      200    200
/api/recall/access/<int:endpoint_id>                   GET     -                   401    403    404    404      404    404
/api/recall/access/<int:endpoint_id>                   PUT     {}                  401    403    403    403      400    400
/api/recall/access/<int:endpoint_id>                   PATCH   {}                  401    403    403    403      404    404
/api/recall/access/<int:endpoint_id>                   DELETE  -                   401    403    403    403      404    404
/api/alerts                                            GET     -                   401    403    200    200      200    200
/api/alerts/<int:alert_id>/acknowledge                 POST    -                   401    403    403    200      200    200
/api/alerts/<int:alert_id>/silence                     POST    {}                  401    403    403    400      400    400
/api/schema/                                           GET     -                   401    200    200    200      200    200
/api/docs/                                             GET     -                   login  200    200    200      200    200
/api/                                                  GET     -                   404    404    404    404      404    404
/api/<path:unknown>                                    GET     -                   404    404    404    404      404    404
/console/                                              GET     -                   login  403    200    200      200    200
/console/devices/                                      GET     -                   login  403    200    200      200    200
/console/devices/<int:pk>/                             GET     -                   login  403    200    200      200    200
/console/devices/<str:mac>/                            GET     -                   login  403    302    302      302    302
/console/sync/                                         GET     -                   login  403    200    200      200    200
/console/events                                        GET     ?channels=nope      401    403    400    400      400    400
/console/request                                       POST    {"type":"heartbeat"} 401   403    200    200      200    200
/admin/                                                GET     -                   login  200    200    200      200    200
/admin/endpoints/endpoint/                             GET     -                   login  403    200    200      200    200
/admin/endpoints/endpoint/add/                         GET     -                   login  403    403    403      200    200
/admin/endpoints/endpoint/<endpoint_id>/change/        GET     -                   login  403    200    200      200    200
/admin/endpoints/endpoint/<endpoint_id>/reconnect/     POST    -                   login  403    403    302      302    302
/admin/endpoints/endpoint/<endpoint_id>/check/         POST    -                   login  403    403    302      302    302
/admin/endpoints/mcpserver/add/                        GET     -                   login  403    403    403      200    200
/admin/endpoints/mcpserver/<server_id>/change/         GET     -                   login  403    200    200      200    200
/admin/endpoints/tool/                                 GET     -                   login  403    200    200      200    200
/admin/endpoints/tool/<tool_id>/try/                   POST    -                   login  403    403    200      200    200
/admin/endpoints/customtool/add/                       GET     -                   login  403    403    403      200    200
/admin/endpoints/customtool/<custom_tool_id>/change/   GET     -                   login  403    200    200      200    200
/admin/endpoints/platform/<platform_id>/change/        GET     -                   login  403    200    200      200    200
/admin/chathistory/chatmessage/                        GET     -                   login  403    200    200      200    200
/admin/chathistory/source/                             GET     -                   login  403    200    200      200    200
/admin/chathistory/source/add/                         GET     -                   login  403    403    403      200    200
/admin/chathistory/retentionpolicy/                    GET     -                   login  403    200    200      200    200
/admin/chathistory/retentionpolicy/add/                GET     -                   login  403    403    403      200    200
/admin/recall/historyaccess/                           GET     -                   login  403    200    200      200    200
/admin/recall/historyaccess/add/                       GET     -                   login  403    403    403      200    200
/admin/alerts/alert/                                   GET     -                   login  403    200    200      200    200
/admin/alerts/alertrule/add/                           GET     -                   login  403    403    403      200    200
/admin/notifications/notificationchannel/               GET     -                   login  403    200    200      200    200
/admin/notifications/notificationchannel/add/           GET     -                   login  403    403    403      200    200
/admin/notifications/notificationchannel/0/test/        POST    -                   login  403    403    403      302    302
/admin/admin/logentry/                                 GET     -                   login  403    403    403      200    200
/admin/auth/user/                                      GET     -                   login  403    403    403      403    200
"""

# The console WebSocket: the connection, then each subscription and request.
# open = accepted (hello); 4401/4403 = closed with that code; ok/error = the answer
# (error: refused for want of a permission; failed: allowed, but not done, such as a
# reconnect with no pool running here).
CONSOLE_MATRIX = """
route          frame                 anon   staff  viewer operator admin  super
/ws/console/   connect               4401   4403   open   open     open   open
/ws/admin/     connect               4401   4403   open   open     open   open
/ws/console/   subscribe:health      -      -      ok     ok       ok     ok
/ws/console/   subscribe:chat        -      -      ok     ok       ok     ok
/ws/console/   subscribe:chat:<pk>   -      -      ok     ok       ok     ok
/ws/console/   subscribe:sync        -      -      ok     ok       ok     ok
/ws/console/   sync:start            -      -      error  ok       ok     ok
/ws/console/   endpoint:reconnect    -      -      error  failed   failed failed
/ws/console/   endpoint:check        -      -      error  ok       ok     ok
/ws/console/   subscribe:alerts      -      -      ok     ok       ok     ok
/ws/console/   alert:acknowledge     -      -      error  ok       ok     ok
/ws/console/   alert:silence         -      -      error  ok       ok     ok
"""


def table(text: str) -> list[list[str]]:
    lines = [line.split() for line in text.strip().splitlines()]
    return lines[1:]  # without the header


def http_rows() -> list[tuple[str, str, str, dict[str, str]]]:
    rows = []
    for cells in table(MATRIX):
        route, method, body, statuses = cells[0], cells[1], cells[2], cells[3:]
        assert len(statuses) == len(IDENTITIES), f"row {route} {method}: one cell per identity"
        rows.append((route, method, body, dict(zip(IDENTITIES, statuses, strict=True))))
    return rows


def url_routes(resolvers=None, prefix: str = "") -> list[tuple[str, object]]:
    """Every route of the URLconf as "/a/<int:b>", with its view (admin: one entry)."""
    found = []
    for entry in resolvers if resolvers is not None else get_resolver().url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            if entry.namespace == "admin":
                found.append(("/" + route, "admin"))
            else:
                found.extend(url_routes(entry.url_patterns, route))
        elif isinstance(entry, URLPattern):
            found.append(("/" + route, entry.callback))
    return found


def handled_methods(callback) -> set[str]:
    """The methods a view answers (function views: GET; their own checks follow)."""
    view_class = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
    if view_class is None:
        return {"GET"}
    names = {"get", "post", "put", "patch", "delete"} & set(view_class.http_method_names)
    return {name.upper() for name in names if hasattr(view_class, name)}


def test_every_route_is_in_the_matrix():
    listed = {(route, method) for route, method, _, _ in http_rows()}
    listed_routes = {route for route, _ in listed}
    missing = []
    for route, callback in url_routes():
        if callback == "admin":
            assert any(r.startswith("/admin/") for r in listed_routes)
            continue
        for method in handled_methods(callback):
            if (route, method) not in listed:
                missing.append(f"{method} {route}")
    assert not missing, f"routes without a row in MATRIX: {missing}"
    stale = {
        (route, method)
        for route, method in listed
        if not route.startswith("/admin/") and route not in {r for r, _ in url_routes()}
    }
    assert not stale, f"rows for routes the URLconf no longer has: {stale}"
    consumer_routes = {"/" + str(entry.pattern) for entry in websocket_urlpatterns}
    assert consumer_routes == {cells[0] for cells in table(CONSOLE_MATRIX) if cells[1] == "connect"}


@pytest.fixture
def world(settings):
    """One of everything the routes name, with secrets in it."""
    settings.HUB_REPORT_SECRET = REPORT_SECRET
    ingest(MAC, "你好", session=SESSION)
    from chathistory.models import ChatSession, Device

    endpoint = Endpoint.objects.create(
        name="relay", url="wss://api.xiaozhi.me/mcp/?token=MatrixSecretToken"
    )
    server = McpServer.objects.create(
        name="amap", transport="sse", url="https://mcp.example/sse?key=MatrixSecretKey"
    )
    tool = Tool.objects.create(server=server, upstream_name="search", exposed_name="amap__search")
    custom_tool = CustomTool.objects.create(
        name="weather",
        kind="http",
        handler={"type": "http", "url": "https://api.example/w", "headers": {"K": "MatrixKey"}},
    )
    platform = Platform.objects.create(name="coze", settings={"token": "MatrixCozeToken"})
    from chathistory.audio.storage import store_audio
    from chathistory.models import ChatMessage, RetentionPolicy, Source

    Source.objects.create(key="esp32", audio_mode="lazy", from_environment=True)
    site = Source.objects.create(key="site-a", url="mysql://u:MatrixDbPassword@db/xz")
    device = Device.objects.get()
    message = ChatMessage.objects.get(device=device)
    store_audio(message_id=message.pk, data=b"RIFF" + bytes(40))
    policy = RetentionPolicy.objects.create(scope="source", source="esp32", keep_messages_days=30)
    return {
        "message_pk": message.pk,
        "key": site.key,
        "policy_id": policy.pk,
        "endpoint_id": endpoint.pk,
        "server_id": server.pk,
        "tool_id": tool.pk,
        "custom_tool_id": custom_tool.pk,
        "platform_id": platform.pk,
        "pk": device.pk,
        "session_pk": ChatSession.objects.get(session_id=SESSION).pk,
        "device_id": MAC,
        "mac": MAC,
        "session_id": SESSION,
        "unknown": "no/such/route",
        "alert_id": matrix_alert().pk,
    }


def matrix_alert():
    """A firing alert (of a default rule, the alerts migration's) for the alert routes."""
    from django.utils import timezone

    from xiaozhi_hub.alerts.models import Alert, AlertRule

    rule, _ = AlertRule.objects.get_or_create(name="matrix", defaults={"kind": "endpoint_down"})
    return Alert.objects.create(rule=rule, subject="endpoint:1", started_at=timezone.now())


def concrete(route: str, values: dict) -> str:
    for name, value in values.items():
        for converter in ("int", "str", "path", "slug", ""):
            placeholder = f"<{converter}:{name}>" if converter else f"<{name}>"
            route = route.replace(placeholder, str(value))
    assert "<" not in route, f"no value for a parameter of {route}"
    return route


def request(client: Client, method: str, path: str, body: str):
    if body.startswith("?"):
        return client.generic(method, path + body)
    if body == "-":
        return client.generic(method, path)
    return client.generic(method, path, body, content_type="application/json")


def matches(response, expected: str) -> bool:
    if expected == "login":
        return response.status_code == 302 and "/admin/login/" in response["Location"]
    return str(response.status_code) in expected.split("|")


# Async views (the SSE stream) read the database from other threads: they need
# committed rows, so their rows run in a transactional test.
ASYNC_ROUTES = {"/console/events"}


def rows_where(is_async: bool):
    rows = [row for row in http_rows() if (row[0] in ASYNC_ROUTES) == is_async]
    return pytest.mark.parametrize(
        ("route", "method", "body", "expected"),
        rows,
        ids=[f"{method} {route}" for route, method, _, _ in rows],
    )


@pytest.mark.requires_services("mysql", "redis")
@rows_where(is_async=False)
def test_http_matrix(db, world, settings, route, method, body, expected):
    check_row(world, settings, route, method, body, expected, rollback=True)


@pytest.mark.requires_services("mysql", "redis")
@pytest.mark.django_db(transaction=True)
@rows_where(is_async=True)
def test_http_matrix_of_async_views(world, settings, route, method, body, expected):
    check_row(world, settings, route, method, body, expected, rollback=False)


def check_row(world, settings, route, method, body, expected, *, rollback: bool) -> None:
    settings.HUB_POOL_CONTROL_TIMEOUT = 1  # a check without a running pool gives up soon
    path = concrete(route, world)
    users = {identity: make_user(identity) for identity in IDENTITIES}
    wrong = []
    for identity, user in users.items():
        client = Client()
        if user is not None:
            client.force_login(user)
        cache.delete("throttle_anon_127.0.0.1")  # the matrix's anonymous requests add up
        if rollback:
            with transaction.atomic():  # each identity meets the same rows
                response = request(client, method, path, body)
                transaction.set_rollback(True)
        else:
            response = request(client, method, path, body)
        if not matches(response, expected[identity]):
            detail = response.content[:300].decode(errors="replace")
            wrong.append(f"{identity}: {response.status_code}, not {expected[identity]} ({detail})")
        elif response.status_code == 403 and route.startswith(("/api/", "/console/")):
            # A refusal says why: the permission missing (or that one must log in).
            text = response.content.decode()
            assert "permission" in text or "credentials" in text, text
    assert not wrong, f"{method} {path}:\n" + "\n".join(wrong)


# --- the console WebSocket -----------------------------------------------------


def console_rows():
    rows = []
    for cells in table(CONSOLE_MATRIX):
        route, frame, statuses = cells[0], cells[1], cells[2:]
        rows.append((route, frame, dict(zip(IDENTITIES, statuses, strict=True))))
    return rows


async def connect(path: str, user) -> tuple[WebsocketCommunicator, dict]:
    from asgiref.sync import sync_to_async

    from xiaozhi_hub.asgi import application

    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
    if user is not None:
        client = Client()
        await sync_to_async(client.force_login)(user)
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    ws = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await ws.connect(timeout=10)
    assert connected
    return ws, await ws.receive_output(timeout=10)


def frame_for(frame: str, pk: int, endpoint_id: int, alert_id: int = 0) -> dict:
    if frame.startswith("subscribe:"):
        channel = frame.split(":", 1)[1].replace("<pk>", str(pk))
        return {"id": frame, "type": "subscribe", "payload": {"channel": channel}}
    payload = {"endpointId": endpoint_id} if frame.startswith("endpoint:") else {}
    if frame.startswith("alert:"):
        payload = {"alert_id": alert_id, "minutes": 60}
    return {"id": frame, "type": frame, "payload": payload}


async def answer_to(ws: WebsocketCommunicator, request_id: str) -> dict:
    while True:
        frame = json.loads(await ws.receive_from(timeout=15))
        if frame.get("id") == request_id:
            return frame


@pytest.mark.requires_services("mysql", "redis")
@pytest.mark.django_db(transaction=True)
async def test_console_matrix(settings):
    from asgiref.sync import sync_to_async

    from chathistory.models import Device

    settings.HUB_POOL_CONTROL_TIMEOUT = 1
    settings.HUB_REPORT_SECRET = REPORT_SECRET
    await sync_to_async(ingest)(MAC, "你好", session=SESSION)
    pk = (await Device.objects.aget()).pk
    endpoint = await Endpoint.objects.acreate(name="relay", url="wss://example.org/mcp/?token=t")
    alert = await sync_to_async(matrix_alert)()
    users = {i: await sync_to_async(make_user)(i) for i in IDENTITIES}
    wrong = []
    for identity, user in users.items():
        for path in ("/ws/console/", "/ws/admin/"):
            rows = [row for row in console_rows() if row[0] == path]
            ws, first = await connect(path, user)
            try:
                for _, frame, expected in rows:
                    want = expected[identity]
                    if frame == "connect":
                        if first["type"] == "websocket.close":
                            got = str(first["code"])
                        else:
                            got = "open" if json.loads(first["text"])["type"] == "hello" else "?"
                        if got != want:
                            wrong.append(f"{identity} {path} connect: {got}, not {want}")
                        if got != "open":
                            break
                        continue
                    sent = frame_for(frame, pk, endpoint.pk, alert.pk)
                    await ws.send_to(text_data=json.dumps(sent))
                    reply = await answer_to(ws, sent["id"])
                    got = reply["type"]
                    if got == "error" and "permission" not in reply["payload"]["reason"]:
                        got = "failed"
                    if got != want:
                        wrong.append(f"{identity} {frame}: {got} {reply['payload']}")
            finally:
                await ws.disconnect()
    assert not wrong, "\n".join(wrong)
