"""Custom tools through a real pool worker (PoolWorkerService on MariaDB): rows added
over REST reach every endpoint's peer (the SDK client over WebSocket) without a
restart, calls land in the call log linked to their tool and count on it, and a
`script` tool an administrator adds runs on the worker."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from endpoints.models import CustomTool, Endpoint, ToolCall
from tests.access.identities import make_user
from tests.endpoints.conftest import open_to, secret_token, wait_until

from .local_http import Answer, LocalHttp

pytestmark = [
    pytest.mark.requires_services("mysql"),
    pytest.mark.django_db(transaction=True),
]


def names(peer_thread, connection) -> set[str]:
    return {t.name for t in peer_thread.run(connection.list_tools()).tools}


def changed(connection) -> int:
    return connection.notifications.count("notifications/tools/list_changed")


def test_custom_tools_are_served_logged_and_changed_live(peer_thread, start_worker):
    admin = APIClient()
    admin.force_login(make_user("administrator"))
    peer = peer_thread.peer()
    token = secret_token("custom")
    Endpoint.objects.create(name="desk", url=peer.url(token))
    start_worker(ttl=15, reconcile_interval=1)
    wait_until(lambda: open_to(peer, token), timeout=15, message="never connected")
    connection = open_to(peer, token)[0]

    with LocalHttp() as web:
        web.route("POST", "/hello", lambda s: Answer(200, {"text": "你好 " + s.json()["who"]}))
        before = changed(connection)
        created = admin.post(
            "/api/custom-tools",
            {
                "name": "hello",
                "description": "says hello",
                "inputSchema": {
                    "type": "object",
                    "properties": {"who": {"type": "string"}},
                    "required": ["who"],
                },
                "handler": {
                    "type": "http",
                    "url": web.url("/hello"),
                    "response_mapping": {"data_path": "text"},
                },
            },
            format="json",
        )
        assert created.status_code == 201, created.json()
        tool_id = created.json()["id"]
        wait_until(lambda: changed(connection) > before, timeout=10, message="never re-listed")
        assert {"hub__echo", "hello"} <= names(peer_thread, connection)

        result = peer_thread.run(connection.call_tool("hello", {"who": "小智"}))
        assert not result.is_error and result.content[0].text == "你好 小智"

        # A script tool, added by someone who may run commands, runs on the worker.
        before = changed(connection)
        script = admin.post(
            "/api/custom-tools",
            {
                "name": "shout",
                "handler": {
                    "type": "script",
                    "interpreter": "python",
                    "script": "import json,sys; print(json.load(sys.stdin)['t'].upper())",
                },
            },
            format="json",
        )
        assert script.status_code == 201, script.json()
        wait_until(lambda: changed(connection) > before, timeout=10)
        shouted = peer_thread.run(connection.call_tool("shout", {"t": "abc"}))
        assert shouted.content[0].text == "ABC"

        # Disabled over REST: gone from the list without a restart.
        before = changed(connection)
        assert (
            admin.patch(
                f"/api/custom-tools/{tool_id}", {"enabled": False}, format="json"
            ).status_code
            == 200
        )
        wait_until(lambda: changed(connection) > before, timeout=10)
        assert "hello" not in names(peer_thread, connection)

    def logged():
        return list(ToolCall.objects.filter(custom_tool__isnull=False).order_by("id"))

    wait_until(lambda: len(logged()) == 2, timeout=10, message="calls never logged")
    calls = logged()
    assert [(c.tool, c.outcome, c.custom_tool_id) for c in calls] == [
        ("hello", "ok", tool_id),
        ("shout", "ok", script.json()["id"]),
    ]
    assert calls[0].endpoint_id == Endpoint.objects.get().pk
    assert calls[0].result == "你好 小智" and '"who": "小智"' in calls[0].arguments
    wait_until(lambda: CustomTool.objects.get(pk=tool_id).usage_count == 1, timeout=10)
    assert CustomTool.objects.get(pk=tool_id).last_used_at is not None
