"""`manage.py sync_chat_history`: one sync run now, with a progress bar and a summary."""

from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from tqdm import tqdm

from chathistory.models import SourceKind
from chathistory.source_selectors import source_get, source_queryset
from chathistory.source_services import source_ensure_environment
from chathistory.sources.esp32 import Esp32Source
from chathistory.sources.registry import source_configured
from chathistory.sync.dispatch import run_source_sync
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
    help = (
        "Copy new chat history from the sources (docs/sources.md): every enabled one, "
        "or the one --source names."
    )

    def add_arguments(self, parser):
        parser.add_argument("--full", action="store_true", help="re-read every row from the start")
        parser.add_argument("--batch-size", type=int, help="rows per batch (one transaction)")
        parser.add_argument("--since", type=_since, help="start at rows created on/after DATE")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")
        parser.add_argument("--source", help="the key of the source to sync (default: all)")

    @in_terminal_language
    def handle(self, *args, full, batch_size, since, no_progress, source=None, **options):
        if batch_size is not None and batch_size < 1:
            raise CommandError(_("--batch-size must be at least 1"))
        environment = source_ensure_environment()
        if source is not None:
            try:
                sources = [source_get(key=source)]
            except Exception:  # noqa: BLE001 - DoesNotExist: said plainly
                raise CommandError(_("unknown source %(key)r") % {"key": source}) from None
        else:
            sources = [s for s in source_queryset(enabled=True) if source_configured(s)]
        if not sources:
            if environment is None and source is None:
                raise CommandError(
                    _("ESP32_DATABASE_URL is not set: there is nothing to sync from")
                )
            raise CommandError(_("no source is enabled and configured"))
        failures = []
        for row in sources:
            failure = self._sync(row, full, batch_size, since, no_progress, len(sources) > 1)
            if failure:
                failures.append(failure)
        if failures:
            raise CommandError("\n".join(failures))

    def _sync(self, row, full, batch_size, since, no_progress, named) -> str | None:
        """One source's run, its summary printed; the error text if it did not succeed."""
        total = None
        if not no_progress and row.kind == SourceKind.MYSQL:
            try:
                total = Esp32Source(row).max_id()
            except Exception:  # noqa: BLE001 - unreachable now: the run says why
                total = None
        bar = tqdm(total=total, unit="row", disable=no_progress, file=self.stderr._out)
        last = {"cursor": 0}

        def on_batch(progress):
            cursor = int(progress["cursor"])
            if cursor > last["cursor"]:
                bar.n = cursor
                last["cursor"] = cursor
            bar.set_postfix(written=progress["rows_written"], refresh=False)
            bar.refresh()

        result = run_source_sync(
            row,
            full=full,
            batch_size=batch_size,
            since=since,
            trigger="command",
            on_batch=on_batch,
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
        if named:
            summary = f"{row.key}: {summary}"
        if result.status == "failed":
            return f"{summary}\n{result.error}"
        if result.status in ("skipped", "not_configured"):
            return f"{row.key}: {result.error}" if named else result.error
        self.stdout.write(self.style.SUCCESS(summary))
        return None
