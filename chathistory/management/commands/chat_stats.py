"""`manage.py chat_stats`: what the hub holds, and how the sync is doing."""

from django.core.management.base import BaseCommand

from chathistory.selectors import chat_totals, device_list, sync_status


class Command(BaseCommand):
    help = "Show message, device and session counts and the sync state."

    def handle(self, *args, **options):
        totals, status = chat_totals(), sync_status()
        write = self.stdout.write
        by_role = "  ".join(f"{role} {n}" for role, n in totals["by_role"].items())
        write(f"messages   {totals['messages']}  {by_role}")
        write("origin     " + "  ".join(f"{k} {v}" for k, v in totals["by_origin"].items()))
        write(f"devices    {totals['devices']}")
        write(f"sessions   {totals['sessions']}")
        lag = status["lag_seconds"]
        write(
            f"sync       {status['status']} (configured: {status['configured']}), cursor "
            f"{status['cursor']}, open gaps {status['open_gaps']}, last success "
            f"{status['last_success_at'] or 'never'}" + (f" ({lag:.0f} s ago)" if lag else "")
        )
        if status["last_error"]:
            write(f"last error {status['last_error']}")
        write("busiest devices:")
        for device in sorted(device_list(limit=10_000), key=lambda d: -d["message_count"])[:10]:
            write(f"  {device['mac']:<20} {device['message_count']:>8}  {device['alias']}")
