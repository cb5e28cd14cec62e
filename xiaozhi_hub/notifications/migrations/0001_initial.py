"""Notification channels, and their permissions for the roles.

The grants are a frozen copy of xiaozhi_hub/access/roles.py's lines for this model
as they were when this migration was written (migrations must not follow later
changes of the code).
"""

from django.db import migrations, models

import xiaozhi_hub.encrypted_fields
from xiaozhi_hub.access.grants import grant, revoke

CHANNEL = "notificationchannel"
GRANTS = {
    "Hub viewers": (f"notifications.view_{CHANNEL}",),
    "Hub operators": (f"notifications.view_{CHANNEL}",),
    "Hub administrators": tuple(
        f"notifications.{action}_{CHANNEL}" for action in ("add", "change", "delete", "view")
    ),
}


def grant_roles(apps, schema_editor):
    grant(apps, schema_editor, GRANTS)


def revoke_roles(apps, schema_editor):
    revoke(apps, schema_editor, GRANTS)


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("access", "0001_roles"),  # the groups; it sets their permissions wholesale
    ]

    operations = [
        migrations.CreateModel(
            name="NotificationChannel",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=100, unique=True)),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("webhook", "Webhook (JSON)"),
                            ("email", "Email"),
                            ("dingtalk", "DingTalk robot (钉钉)"),
                            ("feishu", "Feishu / Lark bot (飞书)"),
                            ("wecom", "WeCom group robot (企业微信)"),
                            ("telegram", "Telegram bot"),
                            ("apprise", "Other (Apprise URL)"),
                        ],
                        max_length=16,
                    ),
                ),
                (
                    "target",
                    xiaozhi_hub.encrypted_fields.EncryptedJSONField(blank=True, default=dict),
                ),
                (
                    "language",
                    models.CharField(
                        choices=[("zh-hans", "简体中文"), ("en", "English")],
                        default="zh-hans",
                        max_length=8,
                    ),
                ),
                ("enabled", models.BooleanField(default=True)),
                (
                    "min_severity",
                    models.CharField(
                        choices=[
                            ("info", "Info"),
                            ("warning", "Warning"),
                            ("critical", "Critical"),
                        ],
                        default="warning",
                        help_text="Notifications less severe than this are not sent here.",
                        max_length=8,
                        verbose_name="minimum severity",
                    ),
                ),
                ("last_success_at", models.DateTimeField(blank=True, editable=False, null=True)),
                ("last_failure_at", models.DateTimeField(blank=True, editable=False, null=True)),
                ("last_error", models.TextField(blank=True, editable=False)),
                ("consecutive_failures", models.PositiveIntegerField(default=0, editable=False)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={
                "ordering": ("name",),
            },
        ),
        migrations.RunPython(grant_roles, revoke_roles),
    ]
