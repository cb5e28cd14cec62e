"""`manage.py rotate_encryption_key`: every encrypted value under the newest key.

Run it after putting a new key first in HUB_ENCRYPTION_KEY, and before dropping
the old one (docs/deploy.md, "Secrets at rest"). Rows already under the newest
key are left alone, so running it twice is harmless.
"""

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from xiaozhi_hub import crypto
from xiaozhi_hub.encrypted_fields import encrypted_fields, rotate_rows
from xiaozhi_hub.terminal_language import in_terminal_language


class Command(BaseCommand):
    help = (
        "Re-encrypt every secret stored in the database with the first key of "
        "HUB_ENCRYPTION_KEY (and refresh the lookup digests); prints the rows changed per model."
    )

    def add_arguments(self, parser):
        parser.add_argument("--database", default="default", help="the database alias")

    @in_terminal_language
    def handle(self, *args, database, **options):
        if crypto.keyring().derived:
            self.stderr.write(
                _("%(variable)s is not set: rotating to the key derived from SECRET_KEY.")
                % {"variable": crypto.KEY_VARIABLE}
            )
        for model in apps.get_models():
            if not encrypted_fields(model):
                continue
            try:
                changed = rotate_rows(model, using=database)
            except crypto.DecryptionError as exc:
                raise CommandError(str(exc)) from None
            total = model._base_manager.using(database).count()
            self.stdout.write(
                _("%(model)s: %(changed)s of %(total)s rows re-encrypted")
                % {"model": model._meta.label, "changed": changed, "total": total}
            )
