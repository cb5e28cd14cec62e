from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from xiaozhi_hub.encrypted_fields import EncryptedJSONField

from .message import severity_rank
from .targets import describe_target, validate_target


class NotificationChannel(models.Model):
    """One place notifications go (a robot, a mailbox, a webhook), and how delivery went."""

    class Kind(models.TextChoices):
        WEBHOOK = "webhook", _("Webhook (JSON)")
        EMAIL = "email", _("Email")
        DINGTALK = "dingtalk", _("DingTalk robot (钉钉)")
        FEISHU = "feishu", _("Feishu / Lark bot (飞书)")
        WECOM = "wecom", _("WeCom group robot (企业微信)")
        TELEGRAM = "telegram", _("Telegram bot")
        APPRISE = "apprise", _("Other (Apprise URL)")

    class Language(models.TextChoices):
        ZH_HANS = "zh-hans", "简体中文"
        EN = "en", "English"

    class Severity(models.TextChoices):
        INFO = "info", _("Info")
        WARNING = "warning", _("Warning")
        CRITICAL = "critical", _("Critical")

    name = models.CharField(_("name"), max_length=100, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    # Webhook URLs, robot keys, bot tokens, recipients: see targets.py. Encrypted at rest,
    # shown only as `masked_target`.
    target = EncryptedJSONField(_("target"), default=dict, blank=True)
    language = models.CharField(
        _("language"), max_length=8, choices=Language.choices, default=Language.ZH_HANS
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    min_severity = models.CharField(
        _("minimum severity"),
        max_length=8,
        choices=Severity.choices,
        default=Severity.WARNING,
        help_text=_("Notifications less severe than this are not sent here."),
    )
    last_success_at = models.DateTimeField(
        _("last success at"), null=True, blank=True, editable=False
    )
    last_failure_at = models.DateTimeField(
        _("last failure at"), null=True, blank=True, editable=False
    )
    last_error = models.TextField(
        _("last error"), blank=True, editable=False
    )  # redacted before it is stored
    consecutive_failures = models.PositiveIntegerField(
        _("consecutive failures"), default=0, editable=False
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ("name",)
        verbose_name = _("notification channel")
        verbose_name_plural = _("notification channels")

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        validate_target(self.kind, self.target)

    def admits(self, severity: str) -> bool:
        return severity_rank(severity) >= severity_rank(self.min_severity)

    @property
    def masked_target(self) -> str:
        return describe_target(self.kind, self.target)
