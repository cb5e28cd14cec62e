"""API tokens kept hashed: Django REST framework's plaintext tokens become
django-rest-knox tokens, with the same keys.

DRF's authtoken table held every key in plaintext (as its primary key). knox
keeps a SHA-512 digest of a key and its first 15 characters, whatever the
key's length, so each old 40-character key is carried over as it is: scripts
keep working. The plaintext rows are then deleted.

rest_framework.authtoken is no longer installed, so its table is read with
plain SQL where an older database has it (a new one never does). The empty
table is left in place: dropping it would break going back to a release that
still installs the app. Going back cannot recover a key from its digest, so
the reverse leaves the knox tokens as they are.
"""

from datetime import UTC

from django.db import migrations
from django.utils import timezone
from knox.crypto import hash_token
from knox.settings import CONSTANTS

LEGACY_TABLE = "authtoken_token"


def carry_over_plaintext_tokens(apps, schema_editor):
    connection = schema_editor.connection
    if LEGACY_TABLE not in connection.introspection.table_names():
        return
    AuthToken = apps.get_model("knox", "AuthToken")
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {quote('key')}, {quote('user_id')}, {quote('created')} "
            f"FROM {quote(LEGACY_TABLE)}"
        )
        legacy = cursor.fetchall()
    tokens = AuthToken.objects.using(connection.alias)
    for key, user_id, created in legacy:
        digest = hash_token(key)
        if not tokens.filter(digest=digest).exists():
            tokens.create(
                digest=digest,
                token_key=key[: CONSTANTS.TOKEN_KEY_LENGTH],
                user_id=user_id,
                expiry=None,  # DRF tokens never expired; they keep doing so
            )
        if timezone.is_naive(created):
            created = timezone.make_aware(created, UTC)
        tokens.filter(digest=digest).update(created=created)  # auto_now_add set "now"
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {quote(LEGACY_TABLE)}")


class Migration(migrations.Migration):
    dependencies = [
        ("access", "0001_roles"),
        ("knox", "0009_extend_authtoken_field"),
    ]

    operations = [
        migrations.RunPython(carry_over_plaintext_tokens, migrations.RunPython.noop),
    ]
