"""The history tools' parts: argument checks (-32602 for anything odd), times
("yesterday", "7d", ISO), the scope (agent AND source, spoken roles, days), and the
bounds of an answer (rows, characters, "truncated")."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from chathistory.models import Role
from endpoints.pool.registry import ToolInvalidArguments, ToolNotFound
from xiaozhi_hub.recall import selectors, tools
from xiaozhi_hub.recall.provider import HistoryToolProvider
from xiaozhi_hub.recall.selectors import Scope

from .conftest import seed_conversation

NOW = timezone.make_aware(datetime(2026, 11, 29, 15, 30))


def scope_of(agent, **limits) -> Scope:
    values = {"max_rows": 10, "max_chars": 4000, "days": 0, **limits}
    return Scope(agent_pk=agent.pk, source=agent.source, **values)


def test_times():
    local = timezone.localtime(NOW)
    start_of = lambda day: timezone.make_aware(datetime.combine(day, datetime.min.time()))  # noqa: E731
    assert tools.when_of({"since": "yesterday"}, "since", end=False, now=NOW) == start_of(
        local.date() - timedelta(days=1)
    )
    assert tools.when_of({"until": "yesterday"}, "until", end=True, now=NOW) == start_of(
        local.date()
    )
    assert tools.when_of({"since": "7d"}, "since", end=False, now=NOW) == NOW - timedelta(days=7)
    assert tools.when_of({"since": "12h"}, "since", end=False, now=NOW) == NOW - timedelta(hours=12)
    assert tools.when_of({"until": "2026-11-28"}, "until", end=True, now=NOW) == start_of(
        datetime(2026, 11, 29).date()
    )
    moment = tools.when_of({"since": "2026-11-28T09:00+08:00"}, "since", end=False)
    assert moment.utcoffset() == timedelta(hours=8)
    assert tools.when_of({}, "since", end=False) is None


@pytest.mark.parametrize(
    "value",
    ["soon", "", "99999d", "2026-13-01", "2026-11-28T25:00", 5, ["7d"], "7" * 41, "-7d", "1e9d"],
)
def test_bad_times_are_invalid_arguments(value):
    with pytest.raises(ToolInvalidArguments):
        tools.when_of({"since": value}, "since", end=False, now=NOW)


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        (tools.RECENT, {"limit": 0}),
        (tools.RECENT, {"limit": 21}),
        (tools.RECENT, {"limit": True}),
        (tools.RECENT, {"limit": 2.5}),
        (tools.RECENT, {"device": ""}),
        (tools.RECENT, {"device": "x" * 51}),
        (tools.RECENT, {"unknown": 1}),
        (tools.SEARCH, {}),
        (tools.SEARCH, {"query": "   "}),
        (tools.SEARCH, {"query": "x" * 101}),
        (tools.SEARCH, {"query": "nul\x00"}),
        (tools.SEARCH, {"query": {"$ne": 1}}),
        (tools.SEARCH, {"query": "x", "until": "never"}),
        (tools.SESSION, {}),
        (tools.SESSION, {"session_id": 42}),
        (tools.SESSION, {"session_id": "s" * 51}),
    ],
)
def test_bad_arguments_are_refused_before_any_read(name, arguments):
    provider = HistoryToolProvider()
    provider.apply({7: Scope(agent_pk=1, source="esp32", max_rows=10, max_chars=4000, days=0)})
    with pytest.raises(ToolInvalidArguments):
        asyncio.run(provider.call_tool(7, name, arguments))


def test_only_endpoints_with_access_have_the_tools():
    provider = HistoryToolProvider()
    scope = Scope(agent_pk=1, source="esp32", max_rows=10, max_chars=4000, days=0)
    assert provider.apply({7: scope}) == {7}
    assert {t.name for t in provider.tools_for(7)} == set(tools.TOOL_NAMES)
    assert provider.tools_for(8) == []
    assert provider.apply({7: scope}) == set()  # nothing changed: nobody is told
    with pytest.raises(ToolNotFound):
        asyncio.run(provider.call_tool(8, tools.RECENT, {}))
    assert provider.apply({}) == {7}
    assert provider.tools_for(7) == []


@pytest.mark.django_db
def test_the_scope_keeps_other_agents_sources_roles_and_old_days_out(two_agents):
    (kitchen, _), (lab, _) = two_agents
    rows = selectors.history_recent(scope=scope_of(kitchen), limit=20)
    assert [r["content"] for r in rows][-1] == "OK, I will remind you to buy milk."
    assert all(r["role"] in (Role.USER, Role.AGENT) for r in rows)
    assert not any("lab" in r["content"] or "secret" in r["content"] for r in rows)
    # A device of the agent by name or MAC; another source's device (same MAC) never.
    by_alias = selectors.history_recent(scope=scope_of(kitchen), limit=20, device="KITCHEN")
    by_mac = selectors.history_recent(scope=scope_of(kitchen), limit=20, device="aa:bb:cc:dd:ee:01")
    assert by_alias == by_mac == rows
    assert selectors.history_recent(scope=scope_of(kitchen), limit=20, device="lab bench") == []
    # Search: the lab's words are not the kitchen's, whatever the query.
    assert (
        selectors.history_search(
            scope=scope_of(kitchen), query="calibration", since=None, until=None, limit=10
        )
        == []
    )
    hits = selectors.history_search(
        scope=scope_of(lab), query="天气", since=None, until=None, limit=10
    )
    assert [h["content"] for h in hits] == ["lab secret: 天气 sensor calibration 42"]
    # Tool rows are never searched.
    assert (
        selectors.history_search(
            scope=scope_of(kitchen), query="secret tool", since=None, until=None, limit=10
        )
        == []
    )
    # `days`: older messages are out of the window, for every tool.
    old_agent, _ = seed_conversation(
        source="esp32",
        agent_id="old",
        mac="aa:bb:cc:dd:ee:99",
        alias="attic",
        start=timezone.now() - timedelta(days=30),
        lines=[(0, Role.USER, "a month ago"), (29, Role.USER, "today-ish")],
    )
    recent = selectors.history_recent(scope=scope_of(old_agent, days=7), limit=20)
    assert [r["content"] for r in recent] == ["today-ish"]
    rows, total = selectors.history_session(
        scope=scope_of(old_agent, days=7), session_id="s-0", limit=5
    )
    assert (rows, total) == ([], 0)


@pytest.mark.django_db
def test_answers_are_bounded_and_say_when_cut(two_agents):
    (kitchen, _), _lab = two_agents
    rows = selectors.history_recent(scope=scope_of(kitchen), limit=20)
    long = [{**rows[0], "content": "长" * 5000}] * 20
    result = tools.answer(long, max_chars=1000)
    text = result.content[0].text
    body = json.loads(text)
    assert len(text) <= 1000
    assert body["truncated"] is True and 0 < body["count"] < 20
    assert body["messages"][0]["text"].endswith("…")
    whole = json.loads(tools.answer(rows, max_chars=4000).content[0].text)
    assert whole["truncated"] is False and whole["count"] == len(rows)
    assert set(whole["messages"][0]) == {"time", "role", "text", "session", "device"}
    # Asking for more rows than the access row allows is capped and said.
    assert tools.limit_of({"limit": 20}, cap=5) == (5, True)
    assert tools.limit_of({}, cap=5) == (5, False)  # the default, capped, is not a cut
    assert tools.limit_of({"limit": 3}, cap=5) == (3, False)
