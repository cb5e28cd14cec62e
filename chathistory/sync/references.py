"""Agent, device and session ids by natural key, cached for one run; new ones are created.

Messages and counters refer to these rows by id; looking each up per batch
would cost three queries. Ids never change once a row exists, so the cache
only has to forget what a rolled-back batch created (clear()).
"""

from __future__ import annotations

from django.db.models import Q
from django.utils import timezone

from .. import counters
from ..bulk import upsert
from ..models import Agent, ChatSession, Device
from ..parsing import preview
from .convert import Converted

# A session as the source names it: (device key, session id); the device key may be None.
SessionKey = tuple[str | None, str]


class References:
    """The ids of one source's rows: `source` is its key (devices and agents are per source)."""

    def __init__(self, source: str):
        self.source = source
        self.agents: dict[str, int] = {}
        self.devices: dict[str, int] = {}
        self.sessions: dict[SessionKey, int] = {}

    def clear(self) -> None:
        self.agents.clear()
        self.devices.clear()
        self.sessions.clear()

    def ensure(self, items: list[Converted]) -> None:
        """Ids for every agent, device and session of `items`; rows missing in the hub are added.

        A new row starts with empty details: the metadata and title refreshes fill them in.
        Lock order (shared with the report ingest, docs/chat-history.md): every device row
        of the batch is locked before any agent or session row is written.
        """
        named = {i.row.mac for i in items if i.row.mac}
        macs = named - self.devices.keys()
        if macs:
            columns = [
                "source",
                "mac",
                "alias",
                "board",
                "firmware",
                "last_message",
                "message_count",
            ]
            rows = [(self.source, mac, "", "", "", "", 0) for mac in sorted(macs)]
            upsert(Device._meta.db_table, columns, rows, key=["source", "mac"])
            devices = Device.objects.filter(source=self.source)
            self.devices.update(devices.filter(mac__in=macs).values_list("mac", "id"))
            for mac in macs - self.devices.keys():
                # The database's collation found another spelling (case, accents): that device.
                self.devices[mac] = devices.values_list("id", flat=True).get(mac=mac)
        self.lock_devices(named)
        agents = {i.row.agent_id for i in items if i.row.agent_id} - self.agents.keys()
        if agents:
            now = timezone.now()
            rows = [(self.source, agent, "", now) for agent in sorted(agents)]
            columns = ["source", "agent_id", "name", "updated_at"]
            upsert(Agent._meta.db_table, columns, rows, key=["source", "agent_id"])
            found = Agent.objects.filter(source=self.source, agent_id__in=agents)
            self.agents.update(found.values_list("agent_id", "id"))
        owners: dict[SessionKey, Converted] = {}  # a new session's first message: its agent
        known = self.sessions
        for item in items:  # per row: session_key() inlined
            sid = item.row.session_id
            if sid and (item.row.mac, sid) not in known:
                owners.setdefault((item.row.mac, sid), item)
        if owners:
            self._ensure_sessions(owners)

    def session_key(self, item: Converted) -> SessionKey | None:
        """A message's session: its session id within its device (None: no session)."""
        sid = item.row.session_id
        return (item.row.mac, sid) if sid else None

    def session_pk(self, item: Converted) -> int | None:
        key = self.session_key(item)
        return None if key is None else self.sessions.get(key)

    def _ensure_sessions(self, owners: dict[SessionKey, Converted]) -> None:
        """Sessions are found first and only the missing ones inserted: a session without a
        device has NULL in its unique key, which never conflicts, so an upsert would repeat it."""
        self.sessions.update(self._find_sessions(owners.keys()))
        missing = sorted(owners.keys() - self.sessions.keys(), key=lambda k: (k[0] or "", k[1]))
        if not missing:
            return
        columns = ["source", "session_id", "title", "message_count", "device_id", "agent_id"]
        rows = [
            (self.source, sid, "", 0, *self.owner_ids(owners[(mac, sid)])) for mac, sid in missing
        ]
        upsert(ChatSession._meta.db_table, columns, rows, key=["device_id", "session_id"])
        self.sessions.update(self._find_sessions(missing))
        for mac, sid in set(missing) - self.sessions.keys():
            # As for devices: the collation matched a session id spelled differently.
            found = ChatSession.objects.filter(
                source=self.source, device_id=self.devices.get(mac), session_id=sid
            )
            self.sessions[(mac, sid)] = found.values_list("id", flat=True).earliest("id")

    def _find_sessions(self, keys) -> dict[SessionKey, int]:
        """Ids of the existing sessions among `keys` (the oldest, should one repeat)."""
        keys = set(keys)
        macs_by_pk = {self.devices.get(mac): mac for mac, _ in keys}
        owned = Q(device_id__in=[pk for pk in macs_by_pk if pk is not None])
        if None in macs_by_pk:
            owned |= Q(device__isnull=True)
        rows = ChatSession.objects.filter(
            owned, source=self.source, session_id__in={sid for _, sid in keys}
        )
        found: dict[SessionKey, int] = {}
        for device_id, sid, pk in rows.order_by("id").values_list("device_id", "session_id", "id"):
            key = (macs_by_pk.get(device_id), sid)
            if key in keys:
                found.setdefault(key, pk)
        return found

    def owner_ids(self, item: Converted) -> tuple[int | None, int | None]:
        """(device id, agent id) of a message."""
        return self.devices.get(item.row.mac), self.agents.get(item.row.agent_id)

    def lock_devices(self, macs: set[str]) -> None:
        ids = sorted(self.devices[mac] for mac in macs if mac in self.devices)
        list(Device.objects.select_for_update().filter(id__in=ids).order_by("id").values_list("id"))

    def session_deltas(self, items: list[Converted]) -> dict[counters.SessionRef, counters.Delta]:
        deltas: dict[counters.SessionRef, counters.Delta] = {}
        sessions = self.sessions
        for item in items:  # per row: session_pk() inlined
            sid = item.row.session_id
            pk = sessions.get((item.row.mac, sid)) if sid else None
            if pk is not None:
                delta = deltas.get((pk, sid))
                if delta is None:
                    device_id, agent_id = self.owner_ids(item)
                    delta = deltas[(pk, sid)] = counters.Delta(
                        device_id=device_id, agent_id=agent_id
                    )
                delta.add(item.created_at, "")
        return deltas

    def device_deltas(self, items: list[Converted]) -> dict[counters.DeviceRef, counters.Delta]:
        deltas: dict[counters.DeviceRef, counters.Delta] = {}
        devices = self.devices
        for item in items:
            mac = item.row.mac
            if mac:
                delta = deltas.get((devices[mac], mac))
                if delta is None:
                    delta = deltas[(devices[mac], mac)] = counters.Delta()
                delta.add(item.created_at, item.parsed.content)
        for delta in deltas.values():  # only the latest text of a device is kept
            delta.last_text = preview(delta.last_text)
        return deltas
