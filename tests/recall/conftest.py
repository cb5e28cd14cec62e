"""Fixtures of the recall tests: the pool-worker fixtures of tests/endpoints, and chat
history seeded with the ORM (two sources, two agents with the same agent id)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from chathistory.models import Agent, ChatMessage, ChatSession, Device, Role
from tests.endpoints.conftest import peer_thread, start_worker  # noqa: F401 - fixtures

CHAT_TYPES = {Role.USER: 1, Role.AGENT: 2, Role.TOOL: 3}


def seed_message(*, agent, device, session, role, content, at):
    return ChatMessage.objects.create(
        source=agent.source,
        match_key=f"k{ChatMessage.objects.count()}",
        device=device,
        session=session,
        agent=agent,
        chat_type=CHAT_TYPES[role],
        role=role,
        content=content,
        created_at=at,
    )


def seed_conversation(*, source: str, agent_id: str, mac: str, alias: str, lines, start):
    """An agent of `source`, one device, one session per day of `lines` [(day offset,
    role, text)]; returns (agent, device)."""
    agent, _ = Agent.objects.get_or_create(source=source, agent_id=agent_id, name=alias)
    device, _ = Device.objects.get_or_create(
        source=source, mac=mac, defaults={"alias": alias, "agent": agent}
    )
    sessions = {}
    for n, (day, role, text) in enumerate(lines):
        session = sessions.get(day)
        if session is None:
            session = sessions[day] = ChatSession.objects.create(
                source=source, session_id=f"s-{day}", device=device, agent=agent
            )
        at = start + timedelta(days=day, minutes=n)
        seed_message(agent=agent, device=device, session=session, role=role, content=text, at=at)
    return agent, device


@pytest.fixture
def two_agents(db):
    """Agent "a1" on source esp32 (the kitchen) and agent "a1" on source lab (the lab):
    same agent id, same MAC, same session ids, different words."""
    yesterday = timezone.localtime() - timedelta(days=1)
    start = yesterday.replace(hour=9, minute=0, second=0, microsecond=0)
    kitchen = seed_conversation(
        source="esp32",
        agent_id="a1",
        mac="aa:bb:cc:dd:ee:01",
        alias="kitchen",
        start=start,
        lines=[
            (0, Role.USER, "明天北京天气怎么样？"),
            (0, Role.AGENT, "明天北京晴，最高12度。"),
            (0, Role.TOOL, "secret tool arguments"),
            (0, Role.USER, "remind me to buy milk"),
            (0, Role.AGENT, "OK, I will remind you to buy milk."),
        ],
    )
    lab = seed_conversation(
        source="lab",
        agent_id="a1",
        mac="aa:bb:cc:dd:ee:01",
        alias="lab bench",
        start=start,
        lines=[
            (0, Role.USER, "lab secret: 天气 sensor calibration 42"),
            (0, Role.AGENT, "calibration noted"),
        ],
    )
    return kitchen, lab
