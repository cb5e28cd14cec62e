"""Alert rules (what to watch, editable in the admin) and alerts (one row per incident)."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import kinds

SEVERITY_CHOICES = [("critical", _("critical")), ("warning", _("warning")), ("info", _("info"))]


class AlertRule(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    kind = models.CharField(_("kind"), max_length=32, choices=kinds.KIND_CHOICES)
    enabled = models.BooleanField(_("enabled"), default=True)
    params = models.JSONField(
        _("parameters"),
        default=dict,
        blank=True,
        help_text=_(
            "The kind's thresholds as a JSON object; missing ones take their defaults "
            "(see docs/alerts.md)."
        ),
    )
    for_minutes = models.FloatField(
        _("for (minutes)"),
        default=5,
        validators=[MinValueValidator(0), MaxValueValidator(10080)],
        help_text=_("How long the condition must hold before the alert fires (0: at once)."),
    )
    reminder_hours = models.FloatField(
        _("remind every (hours)"),
        default=4,
        validators=[MinValueValidator(0), MaxValueValidator(720)],
        help_text=_(
            "Repeat the notification this often while the alert fires and nobody "
            "acknowledged or silenced it (0: never)."
        ),
    )
    flap_minutes = models.FloatField(
        _("flap window (minutes)"),
        default=5,
        validators=[MinValueValidator(0), MaxValueValidator(1440)],
        help_text=_(
            "A resolved alert that fires again within this window re-opens silently; "
            "the resolve notification waits until the window has passed."
        ),
    )
    severity = models.CharField(
        _("severity"), max_length=16, choices=SEVERITY_CHOICES, default="warning"
    )
    description = models.TextField(_("description"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("alert rule")
        verbose_name_plural = _("alert rules")

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        try:
            self.params = kinds.clean_params(self.kind, self.params)
        except ValueError as exc:
            raise ValidationError({"params": str(exc)}) from None


class Alert(models.Model):
    """One incident of a rule about one subject: fires, may resolve and re-open (flapping),
    and is closed once resolved past the rule's flap window."""

    FIRING = "firing"
    RESOLVED = "resolved"

    rule = models.ForeignKey(
        AlertRule, on_delete=models.CASCADE, related_name="alerts", verbose_name=_("rule")
    )
    # What it is about: "endpoint:3", "mcp_server:2", "pool", "sync", "ingest".
    subject = models.CharField(_("subject"), max_length=100)
    subject_label = models.CharField(_("subject label"), max_length=200, blank=True)
    state = models.CharField(
        _("state"),
        max_length=16,
        choices=[(FIRING, _("firing")), (RESOLVED, _("resolved"))],
        default=FIRING,
    )
    severity = models.CharField(
        _("severity"), max_length=16, choices=SEVERITY_CHOICES, default="warning"
    )
    message = models.TextField(_("message"), blank=True)  # English; never a secret
    message_zh = models.TextField(_("message (Chinese)"), blank=True)
    started_at = models.DateTimeField(_("started at"), help_text=_("When the condition began."))
    fired_at = models.DateTimeField(_("fired at"), default=timezone.now, db_index=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    closed_at = models.DateTimeField(
        _("closed at"),
        null=True,
        blank=True,
        help_text=_("Resolved past the flap window: the incident is over."),
    )
    notified_at = models.DateTimeField(
        _("notified at"),
        null=True,
        blank=True,
        help_text=_("When the firing notification went out."),
    )
    last_notified_at = models.DateTimeField(_("last notified at"), null=True, blank=True)
    resolve_notified_at = models.DateTimeField(_("resolve notified at"), null=True, blank=True)
    reminder_count = models.PositiveIntegerField(_("reminder count"), default=0)
    flap_count = models.PositiveIntegerField(
        _("flap count"), default=0, help_text=_("Times it re-opened within the flap window.")
    )
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("acknowledged by"),
    )
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    silenced_until = models.DateTimeField(_("silenced until"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["-fired_at", "-id"]
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")
        indexes = [
            models.Index(fields=["rule", "subject", "closed_at"], name="alert_open_incident"),
            models.Index(fields=["state", "-fired_at"], name="alert_state_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.rule.name}: {self.subject_label or self.subject}"

    def silenced(self, now=None) -> bool:
        return self.silenced_until is not None and self.silenced_until > (now or timezone.now())


class PendingCondition(models.Model):
    """A condition seen but not yet held for its rule's for-duration: the clock of it."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="+")
    subject = models.CharField(_("subject"), max_length=100)
    since = models.DateTimeField(
        _("since"),
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rule", "subject"], name="pending_condition_unique")
        ]
        verbose_name = _("pending condition")
        verbose_name_plural = _("pending conditions")

    def __str__(self) -> str:
        return f"{self.rule_id} {self.subject} since {self.since}"
