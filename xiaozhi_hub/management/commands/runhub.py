"""`manage.py runhub`: the whole hub in one process, for a laptop or a small box.

The ASGI server (daphne), the background runtime and the periodic schedule
(Celery beat's own scheduler in a thread) run here together; Celery tasks
run in-process where they are sent. Ctrl-C or SIGTERM stops everything.
"""

from celery.beat import EmbeddedService
from daphne.server import Server
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from xiaozhi_hub.asgi import application
from xiaozhi_hub.broadcast import bind_server_loop
from xiaozhi_hub.celery import app as celery_app
from xiaozhi_hub.runtime import runtime
from xiaozhi_hub.terminal_language import in_the_terminals_language


class Command(BaseCommand):
    help = "Run the hub (web, WebSockets, background runtime, schedule) in one process."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
        parser.add_argument("--port", type=int, default=8000, help="port to listen on")
        parser.add_argument("--no-migrate", action="store_true", help="skip applying migrations")

    def handle(self, *args, host: str, port: int, no_migrate: bool, **options):
        if not no_migrate:
            call_command("migrate", interactive=False, verbosity=0)
        self._hint_admin_login()

        # One process: tasks run here instead of going through a broker.
        celery_app.conf.task_always_eager = True
        # Beat sends a task it does not know to the broker, where nothing would
        # consume it; load every app's tasks so that beat runs them here.
        celery_app.loader.import_default_modules()
        interface = host.strip("[]").replace(":", r"\:")
        server = Server(
            application,
            endpoints=[f"tcp:port={port}:interface={interface}"],
            signal_handlers=True,
            application_close_timeout=2,
            ready_callable=lambda: self._on_ready(host, port),
        )
        beat = EmbeddedService(
            celery_app, thread=True, scheduler_cls=celery_app.conf.beat_scheduler
        )
        runtime.start()
        beat.start()
        try:
            server.run()
        finally:
            beat.stop()
            runtime.stop()
            bind_server_loop(None)
        with in_the_terminals_language():
            if server.abort_start or not server.listening_addresses:
                raise CommandError(
                    _("could not listen on %(host)s:%(port)s (is the port in use?)")
                    % {"host": host, "port": port}
                )
            self.stdout.write(_("xiaozhi-hub stopped."))

    def _on_ready(self, host: str, port: int) -> None:
        from twisted.internet import reactor

        bind_server_loop(reactor._asyncioEventloop)  # noqa: SLF001
        shown = f"[{host}]" if ":" in host else host
        with in_the_terminals_language():
            running = _("%(name)s is running at %(url)s") % {
                "name": settings.HUB_NAME,
                "url": f"http://{shown}:{port}/",
            }
            self.stdout.write(
                self.style.SUCCESS(running)
                + "  "
                + _("(admin: /admin/, health: /api/health). Press Ctrl-C to stop."),
            )
        self.stdout.flush()

    def _hint_admin_login(self) -> None:
        if not get_user_model().objects.filter(is_superuser=True).exists():
            with in_the_terminals_language():
                self.stdout.write(_("No admin login yet. In another terminal run:"))
            self.stdout.write("    .venv/bin/python manage.py createsuperuser\n")
