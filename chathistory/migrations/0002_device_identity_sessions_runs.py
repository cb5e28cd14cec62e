"""Device keys, sessions per device, and abandoned sync runs (issue 13, items 1, 7 and 9).

1. Every device's identifier becomes its key (chathistory/devices.py): MACs
   spelled differently (`AA-BB-...`, `aabb...`) were different devices; they are
   merged into one, which keeps the oldest row and adds up the counters.
2. Session ids were unique on their own, so a session id that several devices
   used held all their messages under the first device. Each (session, device)
   pair becomes its own session with its own messages and counters; the first
   owner keeps the original row. Then (device, session_id) is made unique.
3. RunStatus gains `abandoned`.

Reversing merges the split sessions again (devices stay merged).
"""

from django.db import migrations, models
from django.db.models import Count, Max, Min

from chathistory.devices import InvalidDeviceId, device_key


def normalise_devices(apps, schema_editor):
    Device = apps.get_model("chathistory", "Device")
    merged: set[int] = set()
    for pk, mac in list(Device.objects.order_by("pk").values_list("pk", "mac")):
        if pk in merged:
            continue
        try:
            key = device_key(mac)
        except InvalidDeviceId:
            continue  # an empty identifier stored before keys existed: left as it was
        if key == mac:
            continue
        # Looked up by the database, so its collation decides what counts as the same value.
        same = Device.objects.filter(mac=key).exclude(pk=pk).values_list("pk", flat=True)
        keeper, *others = Device.objects.filter(pk__in=[pk, *same]).order_by("pk")
        for other in others:
            _merge_device(apps, keeper, other)
            merged.add(other.pk)
        keeper.mac = key
        keeper.save()


def _merge_device(apps, keeper, other) -> None:
    """Move `other`'s messages and sessions to `keeper`, add its counters, delete it."""
    apps.get_model("chathistory", "ChatMessage").objects.filter(device=other).update(device=keeper)
    apps.get_model("chathistory", "ChatSession").objects.filter(device=other).update(device=keeper)
    keeper.message_count += other.message_count
    if other.last_message_at and (
        keeper.last_message_at is None or other.last_message_at > keeper.last_message_at
    ):
        keeper.last_message_at, keeper.last_message = other.last_message_at, other.last_message
    if other.last_connected_at and (
        keeper.last_connected_at is None or other.last_connected_at > keeper.last_connected_at
    ):
        keeper.last_connected_at = other.last_connected_at
    for name in ("alias", "board", "firmware"):
        if not getattr(keeper, name):
            setattr(keeper, name, getattr(other, name))
    keeper.agent_id = keeper.agent_id or other.agent_id
    other.delete()


def split_sessions(apps, schema_editor):
    Session = apps.get_model("chathistory", "ChatSession")
    Message = apps.get_model("chathistory", "ChatMessage")
    # One row per (session, device of its messages): a scan of msg_device_session_time.
    parts: dict[int, list[dict]] = {}
    owners: dict[int, int | None] = {}
    rows = (
        Message.objects.filter(session__isnull=False)
        .values("session", "device", "session__device")
        .annotate(count=Count("id"), first=Min("created_at"), last=Max("created_at"))
        .order_by()
    )
    for row in rows:
        parts.setdefault(row["session"], []).append(row)
        owners[row["session"]] = row["session__device"]
    for session_pk, groups in parts.items():
        if len(groups) == 1 and groups[0]["device"] == owners[session_pk]:
            continue
        session = Session.objects.get(pk=session_pk)
        devices = [g["device"] for g in groups]
        # The device the session was listed under keeps it; else the one that spoke first.
        owner = session.device_id
        if owner not in devices:
            owner = min(groups, key=lambda g: g["first"])["device"]
        for group in groups:
            counters = {
                "message_count": group["count"],
                "started_at": group["first"],
                "last_message_at": group["last"],
            }
            if group["device"] == owner:
                Session.objects.filter(pk=session.pk).update(device_id=owner, **counters)
                continue
            part = Session.objects.create(
                session_id=session.session_id,
                device_id=group["device"],
                agent_id=session.agent_id,
                title=session.title,
                **counters,
            )
            Message.objects.filter(session=session, device_id=group["device"]).update(session=part)


def merge_sessions(apps, schema_editor):
    """The reverse: one session per session id again, holding all its messages."""
    Session = apps.get_model("chathistory", "ChatSession")
    Message = apps.get_model("chathistory", "ChatMessage")
    shared = (
        Session.objects.values("session_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .values_list("session_id", flat=True)
    )
    for session_id in list(shared):
        keeper, *others = Session.objects.filter(session_id=session_id).order_by("pk")
        for other in others:
            Message.objects.filter(session=other).update(session=keeper)
            keeper.message_count += other.message_count
            keeper.title = keeper.title or other.title
            if other.started_at and (
                keeper.started_at is None or other.started_at < keeper.started_at
            ):
                keeper.started_at = other.started_at
            if other.last_message_at and (
                keeper.last_message_at is None or other.last_message_at > keeper.last_message_at
            ):
                keeper.last_message_at = other.last_message_at
            other.delete()
        keeper.save()


class Migration(migrations.Migration):
    dependencies = [
        ("chathistory", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="chatsession",
            name="session_id",
            field=models.CharField(db_index=True, max_length=50),
        ),
        migrations.AlterField(
            model_name="device",
            name="mac",
            field=models.CharField(
                help_text="A MAC address as aa:bb:cc:dd:ee:ff, or the identifier the source holds.",
                max_length=50,
                unique=True,
                verbose_name="device identifier",
            ),
        ),
        migrations.AlterField(
            model_name="syncrun",
            name="status",
            field=models.CharField(
                choices=[
                    ("in_progress", "in progress"),
                    ("success", "success"),
                    ("failed", "failed"),
                    ("skipped", "skipped"),
                    ("abandoned", "abandoned"),
                ],
                default="in_progress",
                max_length=16,
            ),
        ),
        migrations.RunPython(normalise_devices, migrations.RunPython.noop),
        migrations.RunPython(split_sessions, merge_sessions),
        migrations.AddConstraint(
            model_name="chatsession",
            constraint=models.UniqueConstraint(
                fields=("device", "session_id"), name="session_device_key"
            ),
        ),
    ]
