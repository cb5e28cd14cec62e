"""`manage.py chat_sources list|add|update|remove|sync`: the sources (docs/sources.md).

URLs and tokens are printed masked. A URL or token may be given as "-" to read
it from standard input (it then stays out of the shell's history).
"""

from __future__ import annotations

import sys

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from chathistory import services, source_selectors, source_services
from chathistory.models import AudioMode, Source, SourceKind
from xiaozhi_hub.terminal_language import in_terminal_language


def _flag(value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(value)


class Command(BaseCommand):
    help = "List, add, change, remove or sync the chat-history sources."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sub.add_parser("list", help="the sources, secrets masked")

        def settings_arguments(p):
            p.add_argument("key", help="the source's key (letters, digits, - and _)")
            p.add_argument("--name")
            p.add_argument("--kind", choices=SourceKind.values)
            p.add_argument("--url", help="mysql://... or https://host/xiaozhi; - reads stdin")
            p.add_argument("--token", help="the manager-api token; - reads stdin")
            p.add_argument("--enabled", type=_flag, help="yes or no")
            p.add_argument("--sync-interval", type=int, dest="sync_interval", help="seconds")
            p.add_argument("--audio", choices=AudioMode.values, dest="audio_mode")

        settings_arguments(sub.add_parser("add", help="add a source"))
        settings_arguments(sub.add_parser("update", help="change a source"))
        remove = sub.add_parser("remove", help="remove a source")
        remove.add_argument("key")
        remove.add_argument(
            "--purge",
            action="store_true",
            help="also delete every message, session, device and agent copied from it",
        )
        sync = sub.add_parser("sync", help="queue a sync of one source (or all)")
        sync.add_argument("key", nargs="?", help="the source (default: every enabled one)")
        sync.add_argument("--full", action="store_true", help="re-read every row")

    @in_terminal_language
    def handle(self, *args, action, **options):
        getattr(self, f"_{action}")(**options)

    # --- the actions -----------------------------------------------------------
    def _list(self, **options):
        source_services.source_ensure_environment()
        rows = [source_selectors.source_payload(s) for s in source_selectors.source_queryset()]
        if not rows:
            self.stdout.write(_("no sources: set ESP32_DATABASE_URL or add one"))
            return
        for row in rows:
            url = _("(ESP32_DATABASE_URL)") if row["from_environment"] else row["url"] or "-"
            state = _("enabled") if row["enabled"] else _("disabled")
            self.stdout.write(
                f"{row['key']}\t{row['kind']}\t{state}\t{row['sync_interval']}s\t{url}"
                f"\t{row['name']}"
            )

    def _settings(self, options) -> dict:
        fields = ("name", "kind", "url", "token", "enabled", "sync_interval", "audio_mode")
        values = {f: options[f] for f in fields if options.get(f) is not None}
        for secret in ("url", "token"):
            if values.get(secret) == "-":
                values[secret] = sys.stdin.readline().strip()
        return values

    def _add(self, *, key, **options):
        if Source.objects.filter(key=key).exists():
            raise CommandError(_("a source %(key)r exists already") % {"key": key})
        try:
            source = source_services.source_create(key=key, **self._settings(options))
        except ValidationError as exc:
            raise CommandError(_error_text(exc)) from None
        self.stdout.write(self.style.SUCCESS(_("added source %(key)s") % {"key": source.key}))

    def _update(self, *, key, **options):
        source = self._get(key)
        try:
            source_services.source_update(source=source, **self._settings(options))
        except ValidationError as exc:
            raise CommandError(_error_text(exc)) from None
        self.stdout.write(self.style.SUCCESS(_("changed source %(key)s") % {"key": key}))

    def _remove(self, *, key, purge, **options):
        source = self._get(key)
        try:
            deleted = source_services.source_delete(source=source, purge=purge)
        except source_services.SourceInUse as exc:
            raise CommandError(f"{exc} (--purge)") from None
        counts = ", ".join(f"{name} {count}" for name, count in deleted.items())
        self.stdout.write(
            self.style.SUCCESS(
                _("removed source %(key)s (%(counts)s)") % {"key": key, "counts": counts}
            )
        )

    def _sync(self, *, key=None, full=False, **options):
        if key is not None:
            self._get(key)
        result = services.sync_request(full=full, source=key)
        if not result["queued"]:
            raise CommandError(_("not queued: %(reason)s") % {"reason": result["reason"]})
        self.stdout.write(
            self.style.SUCCESS(
                _("queued: %(keys)s (sync_chat_history runs one here and now)")
                % {"keys": ", ".join(result["sources"])}
            )
        )

    def _get(self, key: str) -> Source:
        try:
            return source_selectors.source_get(key=key)
        except Source.DoesNotExist:
            raise CommandError(_("unknown source %(key)r") % {"key": key}) from None


def _error_text(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
    return " ".join(exc.messages)
