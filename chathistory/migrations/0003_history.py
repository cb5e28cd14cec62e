"""History of the chat sync and of report ingest (counters per minute and hour), and
their permissions in the roles.

The roles' permissions are a frozen copy of what xiaozhi_hub/access/roles.py
added with these models: view for every role, everything for administrators.
"""

from django.db import migrations, models

from xiaozhi_hub.access.grants import grant, revoke

MODELS = ("ingestbucket", "syncbucket")
VIEW = tuple(f"chathistory.view_{model}" for model in MODELS)
GRANTS = {
    "Hub viewers": VIEW,
    "Hub operators": VIEW,
    "Hub administrators": tuple(
        f"chathistory.{action}_{model}"
        for model in MODELS
        for action in ("add", "change", "delete", "view")
    ),
}


def add_to_roles(apps, schema_editor):
    grant(apps, schema_editor, GRANTS)


def remove_from_roles(apps, schema_editor):
    revoke(apps, schema_editor, GRANTS)


class Migration(migrations.Migration):
    dependencies = [
        ("chathistory", "0002_device_identity_sessions_runs"),
        ("access", "0001_roles"),  # the groups exist: their permissions are added here
    ]

    operations = [
        migrations.CreateModel(
            name="IngestBucket",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "start",
                    models.DateTimeField(help_text="The minute's first moment (UTC).", unique=True),
                ),
                ("accepted", models.PositiveIntegerField(default=0)),
                ("rejected", models.PositiveIntegerField(default=0)),
            ],
            options={
                "ordering": ["start"],
            },
        ),
        migrations.CreateModel(
            name="SyncBucket",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("source", models.CharField(default="esp32", max_length=32)),
                (
                    "resolution",
                    models.CharField(
                        choices=[("minute", "minute"), ("hour", "hour")], max_length=8
                    ),
                ),
                ("start", models.DateTimeField(help_text="The bucket's first moment (UTC).")),
                ("runs_ok", models.PositiveIntegerField(default=0)),
                ("runs_failed", models.PositiveIntegerField(default=0)),
                ("rows_read", models.PositiveBigIntegerField(default=0)),
                ("rows_written", models.PositiveBigIntegerField(default=0)),
                ("lag_max_seconds", models.FloatField(blank=True, null=True)),
            ],
            options={
                "ordering": ["start"],
                "indexes": [models.Index(fields=["resolution", "start"], name="sync_bucket_age")],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("source", "resolution", "start"), name="sync_bucket_unique"
                    )
                ],
            },
        ),
        migrations.RunPython(add_to_roles, remove_from_roles),
    ]
