"""`manage.py chat_stats`: what the hub holds, and how the sync is doing."""

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from chathistory.selectors import chat_totals, device_list, sync_status
from xiaozhi_hub.terminal_language import in_terminal_language


class Command(BaseCommand):
    help = "Show message, device and session counts and the sync state."

    @in_terminal_language
    def handle(self, *args, **options):
        totals, status = chat_totals(), sync_status()
        write = self.stdout.write
        by_role = "  ".join(f"{role} {n}" for role, n in totals["by_role"].items())
        write(f"messages   {totals['messages']}  {by_role}")
        write("origin     " + "  ".join(f"{k} {v}" for k, v in totals["by_origin"].items()))
        write(f"devices    {totals['devices']}")
        write(f"sessions   {totals['sessions']}")
        lag = status["lag_seconds"]
        line = _(
            "sync       %(status)s (configured: %(configured)s), cursor %(cursor)s, "
            "open gaps %(gaps)s, last success %(success)s"
        ) % {
            "status": status["status"],
            "configured": status["configured"],
            "cursor": status["cursor"],
            "gaps": status["open_gaps"],
            "success": status["last_success_at"] or _("never"),
        }
        if lag:
            line += " " + _("(%(seconds)s s ago)") % {"seconds": f"{lag:.0f}"}
        write(line)
        if status["last_error"]:
            write(_("last error %(error)s") % {"error": status["last_error"]})
        write(_("busiest devices:"))
        for device in sorted(device_list(limit=10_000), key=lambda d: -d["message_count"])[:10]:
            write(f"  {device['mac']:<20} {device['message_count']:>8}  {device['alias']}")
