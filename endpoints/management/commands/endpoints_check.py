from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from endpoints.pool_requests.endpoint import endpoint_check_health

from ._endpoint_args import resolve_endpoint


class Command(BaseCommand):
    help = (
        "Ping one endpoint (id or name) or all of them now, through the running pool; "
        "says why a check failed, and exits 1 unless every endpoint answered."
    )

    def add_arguments(self, parser):
        parser.add_argument("endpoint", nargs="?", help="id or name (default: all)")

    def handle(self, *args, endpoint, **options):
        endpoint_id = resolve_endpoint(endpoint).pk if endpoint else None
        report = endpoint_check_health(endpoint_id=endpoint_id)
        if report.get("error"):
            raise CommandError(report["error"])
        for result in report["results"]:
            line = f"{result['id']} {result['name']}: "
            if result["ok"]:
                rtt = _("%(ms)s ms") % {"ms": f"{result['rttMs']:.1f}"}
                self.stdout.write(line + f"{rtt} ({result['worker']})")
            else:
                failed = _("the check failed: %(error)s") % {"error": result["error"]}
                self.stdout.write(self.style.WARNING(line + failed))
        for item in report["notChecked"]:
            line = f"{item['id']} {item['name']}: "
            skipped = _("not checked: %(error)s") % {"error": item["error"]}
            self.stdout.write(self.style.WARNING(line + skipped))
        if not report["results"] or any(not r["ok"] for r in report["results"]):
            raise CommandError(_("not every endpoint answered"))
