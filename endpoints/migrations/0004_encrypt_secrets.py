# ruff: noqa: E501
"""Secrets at rest: endpoint URLs (they carry the token) and the MCP servers' URL,
env, headers and replica URLs become encrypted fields (xiaozhi_hub/crypto.py),
and each endpoint gets the digest of its URL (to find it by URL).

The JSON fields turn into TEXT columns (they hold a token, not JSON). The rows
already there are encrypted in place, reading and writing the stored text
itself; a value that already decrypts is left alone, so a run that stopped
half way (MySQL cannot roll back schema changes) can be run again. The reverse
decrypts them, with the keys in HUB_ENCRYPTION_KEY.
"""

from django.db import migrations, models
from django.db.models import ExpressionWrapper, F, Value

import endpoints.models.endpoint
import endpoints.models.mcp_server
import xiaozhi_hub.encrypted_fields
from xiaozhi_hub import crypto

SECRET_FIELDS = {
    "endpoint": ("url",),
    "mcpserver": ("url", "env", "headers", "replica_urls"),
}


def _is_token(text: str) -> bool:
    try:
        crypto.decrypt(text)
    except crypto.DecryptionError:
        return False
    return True


def _rewrite(apps, schema_editor, convert, *, digests: bool) -> None:
    """Apply `convert` to the stored text of every secret column, row by row (and
    with `digests`, set each endpoint's url_digest)."""
    alias = schema_editor.connection.alias
    for model_name, fields in SECRET_FIELDS.items():
        model = apps.get_model("endpoints", model_name)
        raw = {
            f"raw_{field}": ExpressionWrapper(F(field), output_field=models.TextField())
            for field in fields
        }
        rows = model._base_manager.using(alias).annotate(**raw).values("pk", *raw).order_by("pk")
        for row in rows.iterator(chunk_size=500):
            update = {}
            for field in fields:
                stored = row[f"raw_{field}"]
                if stored is not None:
                    update[field] = Value(convert(stored), output_field=models.TextField())
            if digests and model_name == "endpoint":
                url = crypto.decrypt(update["url"].value) if "url" in update else ""
                update["url_digest"] = crypto.lookup_digest(url) if url else ""
            if update:
                model._base_manager.using(alias).filter(pk=row["pk"]).update(**update)


def _encrypted(text: str) -> str:
    return text if _is_token(text) else crypto.encrypt(text)


def _decrypted(text: str) -> str:
    return crypto.decrypt(text) if _is_token(text) else text


def encrypt_rows(apps, schema_editor):
    _rewrite(apps, schema_editor, _encrypted, digests=True)


def decrypt_rows(apps, schema_editor):
    _rewrite(apps, schema_editor, _decrypted, digests=False)


class Migration(migrations.Migration):
    dependencies = [
        ("endpoints", "0003_access_and_option_bounds"),
    ]

    operations = [
        migrations.AlterField(
            model_name="endpoint",
            name="url",
            field=xiaozhi_hub.encrypted_fields.EncryptedTextField(
                help_text="ws:// or wss:// endpoint URL including its token (kept secret).",
                validators=[endpoints.models.endpoint.validate_endpoint_url],
                verbose_name="URL",
            ),
        ),
        migrations.AddField(
            model_name="endpoint",
            name="url_digest",
            field=xiaozhi_hub.encrypted_fields.LookupDigestField(
                blank=True, db_index=True, editable=False, max_length=64, source="url"
            ),
        ),
        migrations.AlterField(
            model_name="mcpserver",
            name="url",
            field=xiaozhi_hub.encrypted_fields.EncryptedTextField(
                blank=True,
                help_text="sse / streamable-http: the server's URL (kept secret).",
                verbose_name="URL",
            ),
        ),
        migrations.AlterField(
            model_name="mcpserver",
            name="env",
            field=xiaozhi_hub.encrypted_fields.EncryptedJSONField(
                blank=True,
                default=dict,
                help_text="stdio: extra environment variables (values are secrets).",
                validators=[endpoints.models.mcp_server.validate_env],
            ),
        ),
        migrations.AlterField(
            model_name="mcpserver",
            name="headers",
            field=xiaozhi_hub.encrypted_fields.EncryptedJSONField(
                blank=True,
                default=dict,
                help_text="sse / streamable-http: HTTP headers sent with every request (secrets).",
                validators=[endpoints.models.mcp_server.validate_headers],
            ),
        ),
        migrations.AlterField(
            model_name="mcpserver",
            name="replica_urls",
            field=xiaozhi_hub.encrypted_fields.EncryptedJSONField(
                blank=True,
                default=list,
                help_text="sse / streamable-http: more URLs offering the same tools (secrets).",
                validators=[endpoints.models.mcp_server.validate_replica_urls],
                verbose_name="replica URLs",
            ),
        ),
        migrations.RunPython(encrypt_rows, decrypt_rows),
    ]
