"""`migrate`, refusing the read-only xiaozhi-esp32-server database with a clear error."""

from django.conf import settings
from django.core.management.base import CommandError
from django.core.management.commands.migrate import Command as DjangoMigrate


class Command(DjangoMigrate):
    def handle(self, *args, **options):
        if options["database"] == settings.SOURCE_DATABASE_ALIAS:
            raise CommandError(
                f"the database {settings.SOURCE_DATABASE_ALIAS!r} (ESP32_DATABASE_URL) belongs to "
                "xiaozhi-esp32-server and is read-only for the hub: it is never migrated"
            )
        return super().handle(*args, **options)
