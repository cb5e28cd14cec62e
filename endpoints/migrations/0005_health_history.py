"""Health history of endpoints and MCP servers (rollups), and their permissions in the roles.

The roles' permissions are a frozen copy of what xiaozhi_hub/access/roles.py
added with these models: view for every role, everything for administrators.
"""

import django.db.models.deletion
from django.db import migrations, models

from xiaozhi_hub.access.grants import grant, revoke

MODELS = ("endpointhealthbucket", "mcpserverhealthbucket")
VIEW = tuple(f"endpoints.view_{model}" for model in MODELS)
GRANTS = {
    "Hub viewers": VIEW,
    "Hub operators": VIEW,
    "Hub administrators": tuple(
        f"endpoints.{action}_{model}"
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
        ("endpoints", "0004_encrypt_secrets"),
        ("access", "0001_roles"),  # the groups exist: their permissions are added here
    ]

    operations = [
        migrations.CreateModel(
            name="EndpointHealthBucket",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "resolution",
                    models.CharField(
                        choices=[("minute", "minute"), ("hour", "hour")], max_length=8
                    ),
                ),
                ("start", models.DateTimeField(help_text="The bucket's first moment (UTC).")),
                (
                    "worker",
                    models.CharField(help_text="The pool worker that measured it.", max_length=200),
                ),
                (
                    "up_seconds",
                    models.FloatField(default=0, help_text="Seconds connected (servers: ready)."),
                ),
                (
                    "down_seconds",
                    models.FloatField(
                        default=0,
                        help_text="Seconds enabled but not connected (servers: not ready).",
                    ),
                ),
                ("pings_ok", models.PositiveIntegerField(default=0)),
                ("pings_failed", models.PositiveIntegerField(default=0)),
                ("rtt_sum_ms", models.FloatField(default=0)),
                ("rtt_count", models.PositiveIntegerField(default=0)),
                ("rtt_max_ms", models.FloatField(blank=True, null=True)),
                (
                    "rtt_histogram",
                    models.JSONField(blank=True, default=list, help_text="Counts per RTT bin."),
                ),
                ("disconnections", models.PositiveIntegerField(default=0)),
                (
                    "endpoint",
                    models.ForeignKey(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="health_buckets",
                        to="endpoints.endpoint",
                    ),
                ),
            ],
            options={
                "verbose_name": "endpoint health bucket",
                "ordering": ["start"],
                "abstract": False,
                "indexes": [
                    models.Index(fields=["resolution", "start"], name="endpoint_bucket_age")
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("endpoint", "resolution", "start", "worker"),
                        name="endpoint_bucket_unique",
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="McpServerHealthBucket",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "resolution",
                    models.CharField(
                        choices=[("minute", "minute"), ("hour", "hour")], max_length=8
                    ),
                ),
                ("start", models.DateTimeField(help_text="The bucket's first moment (UTC).")),
                (
                    "worker",
                    models.CharField(help_text="The pool worker that measured it.", max_length=200),
                ),
                (
                    "up_seconds",
                    models.FloatField(default=0, help_text="Seconds connected (servers: ready)."),
                ),
                (
                    "down_seconds",
                    models.FloatField(
                        default=0,
                        help_text="Seconds enabled but not connected (servers: not ready).",
                    ),
                ),
                (
                    "outages",
                    models.PositiveIntegerField(
                        default=0, help_text="Times it stopped being ready."
                    ),
                ),
                (
                    "server",
                    models.ForeignKey(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="health_buckets",
                        to="endpoints.mcpserver",
                    ),
                ),
            ],
            options={
                "verbose_name": "MCP server health bucket",
                "ordering": ["start"],
                "abstract": False,
                "indexes": [models.Index(fields=["resolution", "start"], name="server_bucket_age")],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("server", "resolution", "start", "worker"),
                        name="server_bucket_unique",
                    )
                ],
            },
        ),
        migrations.RunPython(add_to_roles, remove_from_roles),
    ]
