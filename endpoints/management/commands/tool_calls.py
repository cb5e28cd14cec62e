import time

from django.core.management.base import BaseCommand

from endpoints.selectors.mcp_server import tool_calls_tail


class Command(BaseCommand):
    help = "The tail of the tool-call log (oldest of the tail first); --follow keeps printing."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=20)
        parser.add_argument("--tool", help="only calls of this exposed name")
        parser.add_argument("--follow", action="store_true", help="print new calls as they come")
        parser.add_argument("--interval", type=float, default=1.0, help=("seconds between polls"))

    def handle(self, *args, limit, tool, follow, interval, **options):
        calls = list(reversed(tool_calls_tail(limit=limit, tool=tool)))
        for call in calls:
            self._line(call)
        last = calls[-1]["id"] if calls else 0
        while follow:
            time.sleep(interval)
            for call in tool_calls_tail(limit=500, tool=tool, after=last):
                self._line(call)
                last = call["id"]

    def _line(self, call: dict) -> None:
        text = (
            f"{call['at'][:23]}  {call['tool']}  {call['outcome']}  {call['durationMs']:.1f} ms"
            + (f"  endpoint {call['endpointId']}" if call["endpointId"] else "")
            + (f"  failovers {call['failovers']}" if call["failovers"] else "")
            + (f"  {call['error'][:120]}" if call["error"] else "")
        )
        style = self.style.SUCCESS if call["outcome"] == "ok" else self.style.WARNING
        self.stdout.write(style(text))
        self.stdout.flush()
