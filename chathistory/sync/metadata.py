"""The source's small tables: agents, devices and session titles, copied when they change."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Case, F, Value, When

from ..models import Agent, ChatSession, Device, SyncState
from ..parsing import as_text
from ..sources.esp32 import Esp32Source, SourceAgent, SourceDevice

TITLE_BATCH = 2000


def refresh_metadata(source: Esp32Source, state: SyncState) -> None:
    """Copy ai_agent and ai_device when they changed (a cheap fingerprint decides)."""
    fingerprint = source.fingerprint()
    if state.metadata.get("fingerprint") == fingerprint:
        return
    Agent.objects.bulk_create(
        [_agent(a, source.name) for a in source.agents()],
        update_conflicts=True,
        update_fields=["name", "chat_history_conf"],
        **_conflict_on("source", "agent_id"),
    )
    agent_ids = dict(Agent.objects.filter(source=source.name).values_list("agent_id", "id"))
    Device.objects.bulk_create(
        [_device(d, source, agent_ids) for d in source.devices()],
        update_conflicts=True,
        update_fields=["alias", "board", "firmware", "agent", "last_connected_at"],
        **_conflict_on("source", "mac"),
    )
    _remember(state, fingerprint=fingerprint)


def refresh_titles(source: Esp32Source, state: SyncState) -> None:
    """Titles are written when a session ends: follow the title table by its timestamps."""
    mark = state.metadata.get("titles_since")
    # Overlap a few minutes: a title committed late with an older timestamp is still read.
    since = datetime.fromisoformat(mark) - timedelta(minutes=5) if mark else None
    rows = source.titles_changed_since(since, TITLE_BATCH)
    if not rows:
        return
    # A title names a session id, whichever devices used it. Sessions appear with their
    # first message; a title read before that is read again (the overlap above).
    titles = {sid: as_text(title)[:255] for sid, title, _ in rows if sid}
    if titles:
        ChatSession.objects.filter(source=source.name, session_id__in=titles).update(
            title=Case(
                *[When(session_id=sid, then=Value(t)) for sid, t in titles.items()],
                default=F("title"),
            )
        )
    latest = max(changed for _, _, changed in rows if changed is not None)
    _remember(state, titles_since=latest.isoformat())


def _agent(agent: SourceAgent, source: str) -> Agent:
    return Agent(
        source=source,
        agent_id=agent.agent_id,
        name=as_text(agent.name)[:255],
        chat_history_conf=agent.chat_history_conf,
    )


def _device(device: SourceDevice, source: Esp32Source, agent_ids: dict[str, int]) -> Device:
    return Device(
        source=source.name,
        mac=device.mac,
        alias=as_text(device.alias)[:255],
        board=as_text(device.board)[:255],
        firmware=as_text(device.firmware)[:255],
        agent_id=agent_ids.get(device.agent_id),
        last_connected_at=source.aware(device.last_connected_at),
    )


def _remember(state: SyncState, **marks) -> None:
    """Where the refreshes got to, kept in the state's metadata for the next run."""
    state.metadata = {**state.metadata, **marks}
    SyncState.objects.filter(pk=state.pk).update(metadata=state.metadata)


def _conflict_on(*fields: str) -> dict:
    """bulk_create's unique_fields: required by SQLite, refused by MySQL (any unique key)."""
    return {} if connection.vendor == "mysql" else {"unique_fields": list(fields)}
