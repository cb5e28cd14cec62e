from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from endpoints.selectors.endpoint import pool_status
from xiaozhi_hub.terminal_language import in_terminal_language

from ._endpoint_args import table


def _ms(value) -> str:
    return f"{value:.1f}" if value is not None else "-"


def _state(connection: dict) -> str:
    # A relay no device has initialized through yet: up and healthy, not an error.
    if connection.get("waitingForDevice"):
        return _("%(state)s (waiting for a device)") % {"state": connection["state"]}
    return connection["state"]


class Command(BaseCommand):
    help = "The live status of every endpoint, as a table."

    @in_terminal_language
    def handle(self, *args, **options):
        status = pool_status()
        manager = status["manager"]
        self.stdout.write(
            _(
                "%(connected)s of %(total)s connected, %(healthy)s healthy; load balancing: "
                "%(strategy)s; workers: %(workers)s"
            )
            % {
                "connected": manager["connectedConnections"],
                "total": manager["totalConnections"],
                "healthy": manager["healthyConnections"],
                "strategy": manager["loadBalanceStrategy"],
                "workers": ", ".join(manager["workers"]) or _("none"),
            }
        )
        rows = [
            [
                c["id"],
                c["name"],
                c.get("peerProfile") or "-",
                _state(c),
                f"{c['healthScore']:.0f}",
                _ms(c["rttMs"]),
                _ms(c["rttP95Ms"]),
                c["consecutiveFailures"],
                f"{c['successfulRequests']}/{c['totalRequests']}",
                (f"{c['errorClass']}: " if c["errorClass"] else "") + (c["lastError"] or "-")[:60],
                "expired" if c["tokenExpired"] else (c["tokenExpiresAt"] or "-")[:10],
            ]
            for c in status["connections"]
        ]
        if rows:
            header = ["id", "name", "peer", "state", "score", "rtt ms", "p95 ms", "fails",
                      "ok/total", "last error", "token"]  # fmt: skip
            self.stdout.write(table(rows, header))
