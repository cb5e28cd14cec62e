"""The history tools through a real pool worker (MariaDB, Redis when the suite has it):
a xiaozhi peer (the MCP SDK client over WebSocket) lists and calls them through the
hub, and gets only its own agent's messages; a second agent's endpoint (same agent
id and MAC, another source) cannot see them; an endpoint without access has no
history tools; switching access off reaches the peer without a restart."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from mcp.shared.exceptions import MCPError

from endpoints.models import Endpoint, ToolCall
from tests.access.identities import make_user
from tests.endpoints.conftest import open_to, secret_token, wait_until
from xiaozhi_hub.recall.models import HistoryAccess
from xiaozhi_hub.recall.services import history_access_set

pytestmark = [
    pytest.mark.requires_services("mysql"),
    pytest.mark.django_db(transaction=True),
]

HISTORY = {"history__recent", "history__search", "history__session_summary"}


def names(peer_thread, connection) -> set[str]:
    return {t.name for t in peer_thread.run(connection.list_tools()).tools}


def call(peer_thread, connection, name: str, arguments: dict) -> dict:
    result = peer_thread.run(connection.call_tool(name, arguments))
    assert not result.is_error, result.content[0].text
    return json.loads(result.content[0].text)


def changed(connection) -> int:
    return connection.notifications.count("notifications/tools/list_changed")


def connect(peer_thread, peer, name: str):
    token = secret_token(name)
    endpoint = Endpoint.objects.create(name=name, url=peer.url(token))
    return endpoint, token


def test_each_endpoint_recalls_only_its_own_agent(peer_thread, start_worker, two_agents):
    (kitchen_agent, _), (lab_agent, _) = two_agents
    peer = peer_thread.peer()
    desk, desk_token = connect(peer_thread, peer, "desk")
    lab, lab_token = connect(peer_thread, peer, "lab")
    plain, plain_token = connect(peer_thread, peer, "plain")
    history_access_set(endpoint_id=desk.pk, agent=kitchen_agent)
    history_access_set(endpoint_id=lab.pk, agent=lab_agent)
    start_worker(ttl=15, reconcile_interval=1)
    for token in (desk_token, lab_token, plain_token):
        wait_until(lambda t=token: open_to(peer, t), timeout=15, message="never connected")
    at_desk, at_lab, at_plain = (
        open_to(peer, token)[0] for token in (desk_token, lab_token, plain_token)
    )

    # Offered to the endpoints with access only; the others' lists are unchanged.
    assert HISTORY <= names(peer_thread, at_desk)
    assert HISTORY <= names(peer_thread, at_lab)
    assert names(peer_thread, at_plain) == {"hub__status", "hub__echo"}

    recent = call(peer_thread, at_desk, "history__recent", {"limit": 10})
    texts = [m["text"] for m in recent["messages"]]
    assert texts == [
        "明天北京天气怎么样？",
        "明天北京晴，最高12度。",
        "remind me to buy milk",
        "OK, I will remind you to buy milk.",
    ]  # oldest first; no tool rows; nothing of the lab
    assert [m["role"] for m in recent["messages"]] == ["user", "assistant"] * 2
    assert recent["truncated"] is False and recent["count"] == 4
    assert {m["device"] for m in recent["messages"]} == {"kitchen"}

    found = call(peer_thread, at_desk, "history__search", {"query": "天气", "since": "yesterday"})
    assert [m["text"] for m in found["messages"]] == ["明天北京天气怎么样？"]
    found = call(peer_thread, at_lab, "history__search", {"query": "天气"})
    assert [m["text"] for m in found["messages"]] == ["lab secret: 天气 sensor calibration 42"]
    nothing = call(peer_thread, at_desk, "history__search", {"query": "calibration"})
    assert nothing["messages"] == [] and nothing["count"] == 0
    # The same session id exists on both sources: each sees only its own.
    session = call(peer_thread, at_lab, "history__session_summary", {"session_id": "s-0"})
    assert [m["text"] for m in session["messages"]] == [
        "lab secret: 天气 sensor calibration 42",
        "calibration noted",
    ]
    assert session["total"] == 2

    # No access: the tools do not exist for it (-32601), whatever it asks for.
    with pytest.raises(MCPError) as refused:
        peer_thread.run(at_plain.call_tool("history__recent", {}))
    assert refused.value.error.code == -32601
    # Bad arguments: -32602, and the worker goes on serving.
    for bad in ({"limit": 0}, {"limit": 21}, {"limit": "5"}, {"device": 7}, {"what": 1}):
        with pytest.raises(MCPError) as invalid:
            peer_thread.run(at_desk.call_tool("history__recent", bad))
        assert invalid.value.error.code == -32602, bad
    with pytest.raises(MCPError) as invalid:
        peer_thread.run(at_desk.call_tool("history__search", {"query": "x", "since": "soon"}))
    assert invalid.value.error.code == -32602
    assert call(peer_thread, at_desk, "history__recent", {"limit": 1})["count"] == 1

    # Switched off (as the admin does): the desk's peer hears of it, and loses the tools.
    before = changed(at_desk)
    lab_before = changed(at_lab)
    history_access_set(endpoint_id=desk.pk, enabled=False)
    wait_until(lambda: changed(at_desk) > before, timeout=10, message="never re-listed")
    assert not HISTORY & names(peer_thread, at_desk)
    with pytest.raises(MCPError) as gone:
        peer_thread.run(at_desk.call_tool("history__recent", {}))
    assert gone.value.error.code == -32601
    assert changed(at_lab) == lab_before  # the others were not told anything

    # Switched on again in the admin's change form: back without a restart.
    browser = Client()
    browser.force_login(make_user("superuser"))
    access = HistoryAccess.objects.get(endpoint=desk)
    before = changed(at_desk)
    saved = browser.post(
        f"/admin/recall/historyaccess/{access.pk}/change/",
        {"endpoint": desk.pk, "agent": kitchen_agent.pk, "enabled": "on", "max_rows": 2,
         "max_chars": 4000, "days": 0},
    )  # fmt: skip
    assert saved.status_code == 302, saved.content.decode()[:2000]
    wait_until(lambda: changed(at_desk) > before, timeout=10, message="never re-listed")
    assert HISTORY <= names(peer_thread, at_desk)
    capped = call(peer_thread, at_desk, "history__recent", {"limit": 20})
    assert capped["count"] == 2 and capped["truncated"] is True  # the row's max_rows
    assert [m["text"] for m in capped["messages"]] == texts[-2:]

    # The calls are in the tool-call log, with their endpoint.
    wait_until(
        lambda: ToolCall.objects.filter(tool="history__search", outcome="ok").count() == 3,
        timeout=10,
        message="calls never logged",
    )
    assert set(
        ToolCall.objects.filter(tool="history__session_summary").values_list(
            "endpoint_id", flat=True
        )
    ) == {lab.pk}
