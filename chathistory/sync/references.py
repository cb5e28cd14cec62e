"""Agent, device and session ids by natural key, cached for one run; new ones are created.

Messages and counters refer to these rows by id; looking each up per batch
would cost three queries. Ids never change once a row exists, so the cache
only has to forget what a rolled-back batch created (clear()).
"""

from __future__ import annotations

from django.utils import timezone

from .. import counters
from ..bulk import upsert
from ..models import Agent, ChatSession, Device
from ..parsing import preview
from .convert import Converted


class References:
    def __init__(self):
        self.agents: dict[str, int] = {}
        self.devices: dict[str, int] = {}
        self.sessions: dict[str, int] = {}

    def clear(self) -> None:
        self.agents.clear()
        self.devices.clear()
        self.sessions.clear()

    def ensure(self, items: list[Converted]) -> None:
        """Ids for every agent, device and session of `items`; rows missing in the hub are added.

        A new row starts with empty details: the metadata and title refreshes fill them in.
        """
        agents = {i.row.agent_id for i in items if i.row.agent_id} - self.agents.keys()
        if agents:
            now = timezone.now()
            rows = [(agent, "", now) for agent in sorted(agents)]
            upsert(Agent._meta.db_table, ["agent_id", "name", "updated_at"], rows, key=["agent_id"])
            found = Agent.objects.filter(agent_id__in=agents)
            self.agents.update(found.values_list("agent_id", "id"))
        macs = {i.row.mac for i in items if i.row.mac} - self.devices.keys()
        if macs:
            columns = ["mac", "alias", "board", "firmware", "last_message", "message_count"]
            rows = [(mac, "", "", "", "", 0) for mac in sorted(macs)]
            upsert(Device._meta.db_table, columns, rows, key=["mac"])
            self.devices.update(Device.objects.filter(mac__in=macs).values_list("mac", "id"))
        owners: dict[str, Converted] = {}  # a new session belongs to its first message's device
        for item in items:
            sid = item.row.session_id
            if sid and sid not in self.sessions:
                owners.setdefault(sid, item)
        if owners:
            columns = ["session_id", "title", "message_count", "device_id", "agent_id"]
            rows = [(sid, "", 0, *self.owner_ids(i)) for sid, i in sorted(owners.items())]
            upsert(ChatSession._meta.db_table, columns, rows, key=["session_id"])
            found = ChatSession.objects.filter(session_id__in=owners)
            self.sessions.update(found.values_list("session_id", "id"))

    def owner_ids(self, item: Converted) -> tuple[int | None, int | None]:
        """(device id, agent id) of a message."""
        return self.devices.get(item.row.mac), self.agents.get(item.row.agent_id)

    def lock_devices(self, macs: set[str]) -> None:
        ids = sorted(self.devices[mac] for mac in macs if mac in self.devices)
        list(Device.objects.select_for_update().filter(id__in=ids).order_by("id").values_list("id"))

    def session_deltas(self, items: list[Converted]) -> dict[str, counters.Delta]:
        deltas: dict[str, counters.Delta] = {}
        for item in items:
            sid = item.row.session_id
            if sid:
                if sid not in deltas:
                    device_id, agent_id = self.owner_ids(item)
                    deltas[sid] = counters.Delta(device_id=device_id, agent_id=agent_id)
                deltas[sid].add(item.created_at, "")
        return deltas

    def device_deltas(self, items: list[Converted]) -> dict[str, counters.Delta]:
        deltas: dict[str, counters.Delta] = {}
        for item in items:
            if item.row.mac:
                deltas.setdefault(item.row.mac, counters.Delta()).add(
                    item.created_at, item.parsed.content
                )
        for delta in deltas.values():  # only the latest text of a device is kept
            delta.last_text = preview(delta.last_text)
        return deltas
