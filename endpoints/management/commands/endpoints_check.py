from django.core.management.base import BaseCommand, CommandError

from endpoints.pool_requests.endpoint import endpoint_check_health

from ._endpoint_args import resolve_endpoint


class Command(BaseCommand):
    help = "Ping one endpoint (id or name) or all of them now, through the running pool."

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
                self.stdout.write(line + f"{result['rttMs']:.1f} ms ({result['worker']})")
            else:
                self.stdout.write(self.style.WARNING(line + "the ping failed"))
        for pk in report["notConnected"]:
            self.stdout.write(self.style.WARNING(f"{pk}: not connected by any worker"))
        if not report["results"] or any(not r["ok"] for r in report["results"]):
            raise CommandError("not every endpoint answered")
