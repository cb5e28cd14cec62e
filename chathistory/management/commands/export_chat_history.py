"""`manage.py export_chat_history --device MAC --format csv|jsonl`: streamed, constant memory."""

import csv
import json
import sys

from django.core.management.base import BaseCommand, CommandError

from chathistory.events import message_payload
from chathistory.models import Device
from chathistory.selectors import device_get, message_queryset

from .sync_chat_history import _since

FIELDS = ["id", "source_id", "device", "session_id", "agent_id", "role", "content", "speaker",
          "tool_name", "tool_arguments", "created_at"]  # fmt: skip


class Command(BaseCommand):
    help = "Export one device's chat history as CSV or JSON Lines, oldest first."

    def add_arguments(self, parser):
        parser.add_argument("--device", required=True, help="the MAC as the source stores it")
        parser.add_argument("--since", type=_since, help="only messages on/after DATE")
        parser.add_argument("--format", choices=["csv", "jsonl"], default="jsonl")
        parser.add_argument("--output", help="file to write (default: stdout)")

    def handle(self, *args, device, since, format, output, **options):
        try:
            found = device_get(mac=device)
        except Device.DoesNotExist:
            raise CommandError(f"unknown device {device!r}") from None
        messages = message_queryset(device=found, since=since).order_by("created_at", "id")
        handle = open(output, "w", newline="", encoding="utf-8") if output else sys.stdout
        try:
            count = self._write(messages.iterator(chunk_size=2000), format, handle)
        finally:
            if output:
                handle.close()
        self.stderr.write(f"exported {count} messages of {device}")

    def _write(self, messages, format, handle) -> int:
        count = 0
        writer = csv.DictWriter(handle, fieldnames=FIELDS) if format == "csv" else None
        if writer:
            writer.writeheader()
        for message in messages:
            row = message_payload(message)
            if writer:
                arguments = json.dumps(row["tool_arguments"], ensure_ascii=False)
                writer.writerow({**row, "tool_arguments": arguments})
            else:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
        return count
