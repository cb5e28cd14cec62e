"""`manage.py export_chat_history --device MAC --format csv|jsonl`: streamed, constant memory."""

import csv
import json
import sys

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from chathistory.events import ChatMessagePayload
from chathistory.models import Device
from chathistory.selectors import (
    AmbiguousDevice,
    device_get,
    message_queryset,
    message_row_payload,
    message_rows,
)
from xiaozhi_hub.terminal_language import in_terminal_language

from .sync_chat_history import _since

# The CSV header: the keys of a message payload, in their order.
FIELDS = list(ChatMessagePayload.__annotations__)


class Command(BaseCommand):
    help = "Export one device's chat history as CSV or JSON Lines, oldest first."

    def add_arguments(self, parser):
        parser.add_argument("--device", required=True, help="the device identifier")
        parser.add_argument(
            "--source", help="the device's source key (needed when several sources hold it)"
        )
        parser.add_argument("--since", type=_since, help="only messages on/after DATE")
        parser.add_argument("--format", choices=["csv", "jsonl"], default="jsonl")
        parser.add_argument("--output", help="file to write (default: stdout)")

    @in_terminal_language
    def handle(self, *args, device, since, format, output, source=None, **options):
        try:
            found = device_get(mac=device, source=source)
        except AmbiguousDevice as exc:
            raise CommandError(
                _("device %(device)r exists in several sources (%(sources)s): add --source")
                % {"device": device, "sources": ", ".join(exc.sources)}
            ) from None
        except Device.DoesNotExist:
            raise CommandError(_("unknown device %(device)r") % {"device": device}) from None
        oldest_first = message_queryset(device=found, since=since).order_by("created_at", "id")
        handle = open(output, "w", newline="", encoding="utf-8") if output else sys.stdout
        try:
            count = self._write(
                message_rows(oldest_first).iterator(chunk_size=2000), format, handle
            )
        finally:
            if output:
                handle.close()
        self.stderr.write(
            ngettext(
                "exported %(count)s message of %(device)s",
                "exported %(count)s messages of %(device)s",
                count,
            )
            % {"count": count, "device": device}
        )

    def _write(self, rows, format, handle) -> int:
        count = 0
        writer = csv.DictWriter(handle, fieldnames=FIELDS) if format == "csv" else None
        if writer:
            writer.writeheader()
        for row in rows:
            message = message_row_payload(row)
            if writer:
                arguments = json.dumps(message["tool_arguments"], ensure_ascii=False)
                writer.writerow({**message, "tool_arguments": arguments})
            else:
                handle.write(json.dumps(message, ensure_ascii=False) + "\n")
            count += 1
        return count
