"""The alert rules and alerts, the default rules, and the roles' alert permissions.

The data steps use frozen copies (migrations must not import code that changes
later): the default rules as xiaozhi_hub/alerts/kinds.py DEFAULT_RULES had them,
and the permissions as xiaozhi_hub/access/roles.py gives them (tests/alerts/
checks both copies).
"""

import django.core.validators
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

from xiaozhi_hub.access.grants import grant, revoke

DEFAULT_RULES = (
    ("Endpoint failed", "endpoint_failed", {}, 0, "critical",
     "An endpoint gave up reconnecting (state failed)."),
    ("Endpoint not connected", "endpoint_down", {}, 5, "warning",
     "An enabled endpoint is degraded or not connected for 5 minutes."),
    ("Endpoint token expires soon", "token_expiry", {"days": 7}, 0, "warning",
     "An endpoint's token expires within 7 days: get a new URL."),
    ("Fewer than half of the endpoints healthy", "healthy_ratio", {"percent": 50}, 2, "critical",
     "Fewer than 50 % of the enabled endpoints are connected and healthy."),
    ("Upstream MCP server down", "mcp_server_down", {}, 5, "warning",
     "An enabled upstream MCP server is not ready for 5 minutes."),
    ("Chat sync failing", "sync_failing", {"runs": 3}, 0, "warning",
     "The chat-history sync failed 3 runs in a row."),
    ("Chat sync lagging", "sync_lag", {"minutes": 30}, 0, "warning",
     "No successful chat-history sync for 30 minutes (source configured only)."),
    ("Report ingest rejecting", "ingest_rejects",
     {"percent": 20, "window_minutes": 15, "min_requests": 10}, 0, "warning",
     "More than 20 % of chat reports rejected over 15 minutes."),
)  # fmt: skip

ROLE_PERMISSIONS = {
    "Hub viewers": ("alerts.view_alert", "alerts.view_alertrule"),
    "Hub operators": ("alerts.view_alert", "alerts.view_alertrule", "alerts.change_alert"),
    "Hub administrators": tuple(
        f"alerts.{action}_{model}"
        for model in ("alert", "alertrule")
        for action in ("add", "change", "delete", "view")
    ),
}


def create_default_rules(apps, schema_editor):
    AlertRule = apps.get_model("alerts", "AlertRule")
    for name, kind, params, for_minutes, severity, description in DEFAULT_RULES:
        AlertRule.objects.using(schema_editor.connection.alias).get_or_create(
            name=name,
            defaults={
                "kind": kind,
                "params": params,
                "for_minutes": for_minutes,
                "severity": severity,
                "description": description,
            },
        )


def grant_role_permissions(apps, schema_editor):
    grant(apps, schema_editor, ROLE_PERMISSIONS)


def revoke_role_permissions(apps, schema_editor):
    revoke(apps, schema_editor, ROLE_PERMISSIONS)


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("access", "0001_roles"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.CreateModel(
            name="AlertRule",
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
                            ("endpoint_failed", "Endpoint failed (gave up reconnecting)"),
                            ("endpoint_down", "Endpoint degraded or not connected"),
                            ("token_expiry", "Endpoint token expires soon"),
                            ("healthy_ratio", "Too few enabled endpoints healthy"),
                            ("mcp_server_down", "Upstream MCP server down"),
                            ("sync_failing", "Chat sync failing"),
                            ("sync_lag", "Chat sync lagging"),
                            ("ingest_rejects", "Report ingest rejecting requests"),
                        ],
                        max_length=32,
                    ),
                ),
                ("enabled", models.BooleanField(default=True)),
                (
                    "params",
                    models.JSONField(
                        blank=True,
                        default=dict,
                        help_text="The kind's thresholds as a JSON object; missing ones take their defaults (see docs/alerts.md).",
                        verbose_name="parameters",
                    ),
                ),
                (
                    "for_minutes",
                    models.FloatField(
                        default=5,
                        help_text="How long the condition must hold before the alert fires (0: at once).",
                        validators=[
                            django.core.validators.MinValueValidator(0),
                            django.core.validators.MaxValueValidator(10080),
                        ],
                        verbose_name="for (minutes)",
                    ),
                ),
                (
                    "reminder_hours",
                    models.FloatField(
                        default=4,
                        help_text="Repeat the notification this often while the alert fires and nobody acknowledged or silenced it (0: never).",
                        validators=[
                            django.core.validators.MinValueValidator(0),
                            django.core.validators.MaxValueValidator(720),
                        ],
                        verbose_name="remind every (hours)",
                    ),
                ),
                (
                    "flap_minutes",
                    models.FloatField(
                        default=5,
                        help_text="A resolved alert that fires again within this window re-opens silently; the resolve notification waits until the window has passed.",
                        validators=[
                            django.core.validators.MinValueValidator(0),
                            django.core.validators.MaxValueValidator(1440),
                        ],
                        verbose_name="flap window (minutes)",
                    ),
                ),
                (
                    "severity",
                    models.CharField(
                        choices=[
                            ("critical", "critical"),
                            ("warning", "warning"),
                            ("info", "info"),
                        ],
                        default="warning",
                        max_length=16,
                    ),
                ),
                ("description", models.TextField(blank=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={
                "verbose_name": "alert rule",
                "ordering": ["id"],
            },
        ),
        migrations.CreateModel(
            name="Alert",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("subject", models.CharField(max_length=100)),
                ("subject_label", models.CharField(blank=True, max_length=200)),
                (
                    "state",
                    models.CharField(
                        choices=[("firing", "firing"), ("resolved", "resolved")],
                        default="firing",
                        max_length=16,
                    ),
                ),
                (
                    "severity",
                    models.CharField(
                        choices=[
                            ("critical", "critical"),
                            ("warning", "warning"),
                            ("info", "info"),
                        ],
                        default="warning",
                        max_length=16,
                    ),
                ),
                ("message", models.TextField(blank=True)),
                ("message_zh", models.TextField(blank=True, verbose_name="message (Chinese)")),
                ("started_at", models.DateTimeField(help_text="When the condition began.")),
                (
                    "fired_at",
                    models.DateTimeField(db_index=True, default=django.utils.timezone.now),
                ),
                ("resolved_at", models.DateTimeField(blank=True, null=True)),
                (
                    "closed_at",
                    models.DateTimeField(
                        blank=True,
                        help_text="Resolved past the flap window: the incident is over.",
                        null=True,
                    ),
                ),
                (
                    "notified_at",
                    models.DateTimeField(
                        blank=True, help_text="When the firing notification went out.", null=True
                    ),
                ),
                ("last_notified_at", models.DateTimeField(blank=True, null=True)),
                ("resolve_notified_at", models.DateTimeField(blank=True, null=True)),
                ("reminder_count", models.PositiveIntegerField(default=0)),
                (
                    "flap_count",
                    models.PositiveIntegerField(
                        default=0, help_text="Times it re-opened within the flap window."
                    ),
                ),
                ("acknowledged_at", models.DateTimeField(blank=True, null=True)),
                ("silenced_until", models.DateTimeField(blank=True, null=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "acknowledged_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "rule",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="alerts",
                        to="alerts.alertrule",
                    ),
                ),
            ],
            options={
                "ordering": ["-fired_at", "-id"],
                "indexes": [
                    models.Index(
                        fields=["rule", "subject", "closed_at"], name="alert_open_incident"
                    ),
                    models.Index(fields=["state", "-fired_at"], name="alert_state_recent"),
                ],
            },
        ),
        migrations.CreateModel(
            name="PendingCondition",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("subject", models.CharField(max_length=100)),
                ("since", models.DateTimeField()),
                (
                    "rule",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="alerts.alertrule",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("rule", "subject"), name="pending_condition_unique"
                    )
                ],
            },
        ),
        migrations.RunPython(create_default_rules, migrations.RunPython.noop),
        migrations.RunPython(grant_role_permissions, revoke_role_permissions),
    ]
