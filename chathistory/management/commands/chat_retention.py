"""`manage.py chat_retention`: apply the retention policies now, or delete a device's history.

    chat_retention apply [--dry-run] [--redact-existing] [--batch-size N]
    chat_retention delete-device DEVICE [--source KEY] --confirm IDENTIFIER

DEVICE is the device's id (as /api/v2/devices shows it) or its identifier (a MAC);
--confirm must repeat the device's identifier exactly. Without --confirm, delete-device
says what would be deleted and deletes nothing. Every pass is recorded as a retention run
(docs/retention.md), naming the operating-system user who ran the command.
"""

from __future__ import annotations

import getpass

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from chathistory.devices import optional_device_key
from chathistory.models import DEFAULT_SOURCE, ChatAudio, ChatMessage, Device, RetentionRun
from chathistory.retention.apply import retention_apply
from chathistory.retention.delete import (
    ConfirmationMismatch,
    confirmation_matches,
    device_history_delete,
)
from chathistory.retention.purge import BATCH_SIZE
from xiaozhi_hub.terminal_language import in_terminal_language

MAX_BATCH = 50_000


def _who() -> str:
    try:
        return f"{getpass.getuser()} (command)"
    except Exception:  # noqa: BLE001 - no user name in this environment
        return "(command)"


class Command(BaseCommand):
    help = "Apply the chat-history retention policies now, or delete a device's whole history."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        apply = sub.add_parser("apply", help="apply every enabled policy now")
        apply.add_argument("--dry-run", action="store_true", help="only say what would go")
        apply.add_argument(
            "--redact-existing",
            action="store_true",
            help="also mask the text already stored, as the policies' masks say",
        )
        apply.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="rows a transaction")
        delete = sub.add_parser("delete-device", help="delete a device's whole chat history")
        delete.add_argument("device", help="the device's id or identifier (MAC)")
        delete.add_argument("--source", help=f"the device's source key (default {DEFAULT_SOURCE})")
        delete.add_argument("--confirm", help="the device's identifier again: deletes for real")
        delete.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="rows a transaction")

    @in_terminal_language
    def handle(self, *args, action, batch_size, **options):
        if not 1 <= batch_size <= MAX_BATCH:
            raise CommandError(_("--batch-size must be between 1 and %(max)d") % {"max": MAX_BATCH})
        if action == "apply":
            self._apply(batch_size, options["dry_run"], options["redact_existing"])
        else:
            self._delete(options["device"], options["source"], options["confirm"], batch_size)

    def _apply(self, batch_size: int, dry_run: bool, redact_existing: bool) -> None:
        result = retention_apply(
            trigger=RetentionRun.Trigger.COMMAND,
            user=_who(),
            dry_run=dry_run,
            redact_existing=redact_existing,
            batch_size=batch_size,
        )
        verb = _("would delete") if dry_run else _("deleted")
        for outcome in result.policies:
            self.stdout.write(
                _("policy %(id)d (%(scope)s): %(verb)s %(messages)d messages, %(audio)d audio")
                % {
                    "id": outcome.policy,
                    "scope": outcome.scope,
                    "verb": verb,
                    "messages": outcome.messages,
                    "audio": outcome.audio,
                }
                + (
                    _(", %(n)d messages masked") % {"n": outcome.redacted}
                    if redact_existing
                    else ""
                )
            )
        if not result.policies:
            self.stdout.write(_("no enabled retention policy"))
        if result.deleted_devices:
            self.stdout.write(
                _("%(n)d messages of deleted devices swept") % {"n": result.deleted_devices}
            )
        self.stdout.write(
            _("total: %(verb)s %(messages)d messages, %(audio)d audio")
            % {"verb": verb, "messages": result.messages, "audio": result.audio}
        )

    def _delete(self, name: str, source: str | None, confirm: str | None, batch_size: int):
        device = self._device(name, source)
        if confirm is None:
            messages = ChatMessage.objects.filter(device=device)
            self.stdout.write(
                _(
                    "device %(device)s: %(messages)d messages, %(audio)d audio would be deleted; "
                    "run again with --confirm %(mac)s to delete them"
                )
                % {
                    "device": f"{device.source}/{device.mac}",
                    "messages": messages.count(),
                    "audio": ChatAudio.objects.filter(message__device=device).count(),
                    "mac": device.mac,
                }
            )
            return
        if not confirmation_matches(device, confirm):
            raise CommandError(_("--confirm must be the device's identifier, exactly"))
        try:
            deleted = device_history_delete(
                device=device,
                confirm=confirm,
                user=_who(),
                trigger=RetentionRun.Trigger.COMMAND,
                batch_size=batch_size,
            )
        except ConfirmationMismatch as exc:  # pragma: no cover - checked above
            raise CommandError(str(exc)) from None
        self.stdout.write(
            _(
                "device %(device)s: deleted %(messages)d messages, %(audio)d audio, "
                "%(sessions)d sessions (retention run %(run)d)"
            )
            % {
                "device": f"{device.source}/{device.mac}",
                "messages": deleted.messages,
                "audio": deleted.audio,
                "sessions": deleted.sessions,
                "run": deleted.run,
            }
        )

    def _device(self, name: str, source: str | None) -> Device:
        devices = Device.objects.filter(source=source or DEFAULT_SOURCE)
        if name.isdigit() and source is None:
            found = Device.objects.filter(pk=int(name)).first()
            if found is not None:
                return found
        key = optional_device_key(name)
        found = devices.filter(mac=key).first() if key else None
        if found is None:
            raise CommandError(_("unknown device %(name)r") % {"name": name[:60]})
        return found
