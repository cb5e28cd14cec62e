"""Retention and privacy (docs/retention.md): policies per source, agent or device, the
devices whose history was deleted on demand, and the record of every deletion pass."""

import django.core.validators
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("chathistory", "0008_audio")]

    operations = [
        migrations.CreateModel(
            name="RetentionRun",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "trigger",
                    models.CharField(
                        choices=[
                            ("nightly", "nightly task"),
                            ("command", "command"),
                            ("api", "REST API"),
                            ("admin", "admin site"),
                        ],
                        max_length=8,
                        verbose_name="trigger",
                    ),
                ),
                (
                    "user",
                    models.CharField(blank=True, default="", max_length=150, verbose_name="user"),
                ),
                ("action", models.CharField(max_length=32, verbose_name="action")),
                (
                    "scope",
                    models.CharField(blank=True, default="", max_length=200, verbose_name="scope"),
                ),
                ("started_at", models.DateTimeField(auto_now_add=True, verbose_name="started at")),
                (
                    "finished_at",
                    models.DateTimeField(blank=True, null=True, verbose_name="finished at"),
                ),
                (
                    "messages_deleted",
                    models.PositiveBigIntegerField(default=0, verbose_name="messages deleted"),
                ),
                (
                    "audio_deleted",
                    models.PositiveBigIntegerField(default=0, verbose_name="audio deleted"),
                ),
                (
                    "sessions_deleted",
                    models.PositiveBigIntegerField(default=0, verbose_name="sessions deleted"),
                ),
                (
                    "messages_redacted",
                    models.PositiveBigIntegerField(default=0, verbose_name="messages redacted"),
                ),
                ("details", models.JSONField(blank=True, default=dict, verbose_name="details")),
                ("error", models.TextField(blank=True, default="", verbose_name="error")),
            ],
            options={
                "verbose_name": "retention run",
                "verbose_name_plural": "retention runs",
                "ordering": ["-started_at", "-id"],
            },
        ),
        migrations.CreateModel(
            name="DeletedDevice",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("source", models.CharField(max_length=32, verbose_name="source")),
                ("mac", models.CharField(max_length=50, verbose_name="device identifier")),
                (
                    "history_before",
                    models.DateTimeField(
                        help_text="Messages created up to this moment are never copied.",
                        verbose_name="history up to",
                    ),
                ),
                (
                    "deleted_by",
                    models.CharField(
                        blank=True, default="", max_length=150, verbose_name="deleted by"
                    ),
                ),
                (
                    "messages_deleted",
                    models.PositiveIntegerField(default=0, verbose_name="messages deleted"),
                ),
                ("deleted_at", models.DateTimeField(auto_now=True, verbose_name="deleted at")),
            ],
            options={
                "verbose_name": "deleted device history",
                "verbose_name_plural": "deleted device histories",
                "constraints": [
                    models.UniqueConstraint(fields=("source", "mac"), name="deleted_device_key")
                ],
            },
        ),
        migrations.CreateModel(
            name="RetentionPolicy",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "scope",
                    models.CharField(
                        choices=[
                            ("source", "a source"),
                            ("agent", "an agent"),
                            ("device", "a device"),
                        ],
                        max_length=8,
                        verbose_name="applies to",
                    ),
                ),
                (
                    "source",
                    models.CharField(
                        blank=True,
                        default="",
                        help_text="The source's key (e.g. esp32) when the policy applies to a source.",
                        max_length=32,
                        verbose_name="source",
                    ),
                ),
                (
                    "scope_key",
                    models.CharField(
                        editable=False, max_length=64, unique=True, verbose_name="scope key"
                    ),
                ),
                (
                    "keep_messages_days",
                    models.PositiveIntegerField(
                        blank=True,
                        help_text="Messages older than this are deleted every night. Empty: kept forever.",
                        null=True,
                        validators=[
                            django.core.validators.MinValueValidator(1),
                            django.core.validators.MaxValueValidator(36500),
                        ],
                        verbose_name="keep messages (days)",
                    ),
                ),
                (
                    "keep_audio_days",
                    models.PositiveIntegerField(
                        blank=True,
                        help_text="Audio older than this is deleted (the text stays). Empty: kept forever.",
                        null=True,
                        validators=[
                            django.core.validators.MinValueValidator(1),
                            django.core.validators.MaxValueValidator(36500),
                        ],
                        verbose_name="keep audio (days)",
                    ),
                ),
                (
                    "redact_phone",
                    models.BooleanField(default=False, verbose_name="mask phone numbers"),
                ),
                (
                    "redact_id_number",
                    models.BooleanField(default=False, verbose_name="mask Chinese ID card numbers"),
                ),
                (
                    "redact_email",
                    models.BooleanField(default=False, verbose_name="mask e-mail addresses"),
                ),
                (
                    "redact_bank_card",
                    models.BooleanField(default=False, verbose_name="mask bank card numbers"),
                ),
                (
                    "redact_patterns",
                    models.TextField(
                        blank=True,
                        default="",
                        help_text="One regular expression a line; each match is replaced by [redacted]. No nested repeats, no alternatives inside a repeat, at most one unbounded repeat.",
                        verbose_name="custom patterns",
                    ),
                ),
                ("enabled", models.BooleanField(default=True, verbose_name="enabled")),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created at")),
                ("updated_at", models.DateTimeField(auto_now=True, verbose_name="updated at")),
                (
                    "agent",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        to="chathistory.agent",
                        verbose_name="agent",
                    ),
                ),
                (
                    "device",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        to="chathistory.device",
                        verbose_name="device",
                    ),
                ),
            ],
            options={
                "verbose_name": "retention policy",
                "verbose_name_plural": "retention policies",
                "ordering": ["scope", "source", "id"],
            },
        ),
    ]
