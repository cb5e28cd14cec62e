from __future__ import annotations

from django.db import models

from xiaozhi_hub.encrypted_fields import EncryptedJSONField

from .message import severity_rank
from .targets import describe_target, validate_target


class NotificationChannel(models.Model):
    """One place notifications go (a robot, a mailbox, a webhook), and how delivery went."""

    class Kind(models.TextChoices):
        WEBHOOK = "webhook", "Webhook (JSON)"
        EMAIL = "email", "Email"
        DINGTALK = "dingtalk", "DingTalk robot (钉钉)"
        FEISHU = "feishu", "Feishu / Lark bot (飞书)"
        WECOM = "wecom", "WeCom group robot (企业微信)"
        TELEGRAM = "telegram", "Telegram bot"
        APPRISE = "apprise", "Other (Apprise URL)"

    class Language(models.TextChoices):
        ZH_HANS = "zh-hans", "简体中文"
        EN = "en", "English"

    class Severity(models.TextChoices):
        INFO = "info", "Info"
        WARNING = "warning", "Warning"
        CRITICAL = "critical", "Critical"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # Webhook URLs, robot keys, bot tokens, recipients: see targets.py. Encrypted at rest,
    # shown only as `masked_target`.
    target = EncryptedJSONField(default=dict, blank=True)
    language = models.CharField(max_length=8, choices=Language.choices, default=Language.ZH_HANS)
    enabled = models.BooleanField(default=True)
    min_severity = models.CharField(
        "minimum severity",
        max_length=8,
        choices=Severity.choices,
        default=Severity.WARNING,
        help_text="Notifications less severe than this are not sent here.",
    )
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_failure_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, editable=False)  # redacted before it is stored
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        validate_target(self.kind, self.target)

    def admits(self, severity: str) -> bool:
        return severity_rank(severity) >= severity_rank(self.min_severity)

    @property
    def masked_target(self) -> str:
        return describe_target(self.kind, self.target)
