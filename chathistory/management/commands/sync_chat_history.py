"""`manage.py sync_chat_history`: one sync run now, with a progress bar and a summary."""

from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from tqdm import tqdm

from chathistory.sources.esp32 import Esp32Source, source_configured
from chathistory.sync import run_sync
from xiaozhi_hub.terminal_language import in_terminal_language


def _since(value: str) -> datetime:
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise CommandError(
                _("--since must be a date (2025-01-31) or a datetime, got %(value)r")
                % {"value": value}
            )
        moment = datetime(day.year, day.month, day.day)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Copy new chat history from the xiaozhi-esp32-server database (ESP32_DATABASE_URL)."

    def add_arguments(self, parser):
        parser.add_argument("--full", action="store_true", help="re-read every row from the start")
        parser.add_argument("--batch-size", type=int, help="rows per batch (one transaction)")
        parser.add_argument("--since", type=_since, help="start at rows created on/after DATE")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    @in_terminal_language
    def handle(self, *args, full, batch_size, since, no_progress, **options):
        if batch_size is not None and batch_size < 1:
            raise CommandError(_("--batch-size must be at least 1"))
        if not source_configured():
            raise CommandError(_("ESP32_DATABASE_URL is not set: there is nothing to sync from"))
        total = None if no_progress else Esp32Source().max_id()
        bar = tqdm(total=total, unit="row", disable=no_progress, file=self.stderr._out)
        last = {"cursor": 0}

        def on_batch(progress):
            cursor = int(progress["cursor"])
            if cursor > last["cursor"]:
                bar.n = cursor
                last["cursor"] = cursor
            bar.set_postfix(written=progress["rows_written"], refresh=False)
            bar.refresh()

        result = run_sync(
            full=full, batch_size=batch_size, since=since, trigger="command", on_batch=on_batch
        )
        bar.close()
        seconds = max(result.duration_ms / 1000, 0.001)
        summary = _(
            "%(status)s: read %(read)s, written %(written)s, skipped %(skipped)s rows in "
            "%(seconds)s s (%(rate)s rows/s); cursor %(cursor)s"
        ) % {
            "status": result.status,
            "read": result.rows_read,
            "written": result.rows_written,
            "skipped": result.rows_skipped,
            "seconds": f"{seconds:.1f}",
            "rate": f"{result.rows_read / seconds:,.0f}",
            "cursor": result.cursor,
        }
        if result.status == "failed":
            raise CommandError(f"{summary}\n{result.error}")
        if result.status == "skipped":
            raise CommandError(result.error)
        self.stdout.write(self.style.SUCCESS(summary))
