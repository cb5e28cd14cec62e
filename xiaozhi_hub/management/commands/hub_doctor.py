"""`manage.py hub_doctor`: the /api/health checks on the command line."""

import asyncio
import uuid

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from xiaozhi_hub.broadcast import group_name
from xiaozhi_hub.health import failure_reasons, overall_status, run_checks
from xiaozhi_hub.tasks import broadcast_probe
from xiaozhi_hub.terminal_language import in_terminal_language


class Command(BaseCommand):
    help = (
        "Check the database, channel layer, Celery broker and source database, that "
        "the source user cannot write, that live pool workers hold the enabled endpoints "
        "and that beat ticks the sync schedule."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--probe",
            action="store_true",
            help="also send a task through the broker and wait for a worker to broadcast it "
            "back over the channel layer (needs a running Celery worker)",
        )
        parser.add_argument(
            "--timeout", type=float, default=15.0, help="seconds to wait for --probe"
        )

    @in_terminal_language
    def handle(self, *args, probe: bool, timeout: float, **options):
        results = run_checks()
        width = max(map(len, results))
        for name, result in results.items():
            style = {"ok": self.style.SUCCESS, "error": self.style.ERROR}.get(
                result.status, self.style.WARNING
            )
            optional = "" if result.required else " " + _("(optional)")
            self.stdout.write(
                f"{name.ljust(width)}  {style(result.status.ljust(14))} "
                f"{result.detail}{optional}  [{result.elapsed_ms} ms]"
            )
        status = overall_status(results)
        if status == "error":
            raise CommandError(_("a required check failed (see above)"))
        if probe:
            worker = async_to_sync(self._probe)(timeout)
            self.stdout.write(
                f"{'probe'.ljust(width)}  {self.style.SUCCESS('ok'.ljust(14))} "
                + _("round trip through worker %(worker)s") % {"worker": worker}
            )
        # degraded: optional checks failed; the hub serves, but not all of it works.
        style = self.style.WARNING if status == "degraded" else self.style.SUCCESS
        self.stdout.write(style(_("overall: %(status)s") % {"status": status}))
        for reason in failure_reasons(results):
            self.stdout.write(f"  {reason}")

    async def _probe(self, timeout: float) -> str:
        layer = get_channel_layer()
        channel = await layer.new_channel("doctor.")
        await layer.group_add(group_name("system"), channel)
        nonce = uuid.uuid4().hex
        try:
            await sync_to_async(broadcast_probe.delay)(nonce)
            async with asyncio.timeout(timeout):
                while True:
                    frame = (await layer.receive(channel))["frame"]
                    if frame["type"] == "hub_probe" and frame["payload"]["nonce"] == nonce:
                        return frame["payload"]["worker"]
        except TimeoutError:
            raise CommandError(
                _(
                    "no worker answered the probe within %(seconds)s s: "
                    "is `celery -A xiaozhi_hub worker` running against the same REDIS_URL?"
                )
                % {"seconds": f"{timeout:.0f}"}
            ) from None
        finally:
            await layer.group_discard(group_name("system"), channel)
