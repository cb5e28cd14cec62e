"""Retention and privacy: how long a source's, agent's or device's history is kept, what is
masked before it is stored, the devices whose history was deleted on demand, and the record
of every deletion pass (docs/retention.md)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from .chat import Agent, Device
from .source import DEFAULT_SOURCE, Source

# 100 years: more is "forever" (leave the field empty), and a bigger number of days
# would overflow the date arithmetic.
MAX_DAYS = 36500
MAX_PATTERNS = 20
MAX_PATTERN_CHARS = 200


class RetentionScope(models.TextChoices):
    SOURCE = "source", _("a source")
    AGENT = "agent", _("an agent")
    DEVICE = "device", _("a device")


_DAYS = [MinValueValidator(1), MaxValueValidator(MAX_DAYS)]


class RetentionPolicy(models.Model):
    """What is kept of one source's, agent's or device's history, and what is masked.

    The most specific enabled policy applies to a message, whole: the device's, else its
    agent's, else its source's (chathistory/retention/policy.py).
    """

    scope = models.CharField(_("applies to"), max_length=8, choices=RetentionScope.choices)
    # The source key (Source.key) the policy's rows carry; for an agent or a device, theirs.
    source = models.CharField(
        _("source"),
        max_length=32,
        blank=True,
        default="",
        help_text=_("The source's key (e.g. esp32) when the policy applies to a source."),
    )
    agent = models.ForeignKey(
        Agent, null=True, blank=True, on_delete=models.CASCADE, verbose_name=_("agent")
    )
    device = models.ForeignKey(
        Device, null=True, blank=True, on_delete=models.CASCADE, verbose_name=_("device")
    )
    # "source:<key>", "agent:<pk>" or "device:<pk>": one policy per scope (set on save).
    scope_key = models.CharField(_("scope key"), max_length=64, unique=True, editable=False)
    keep_messages_days = models.PositiveIntegerField(
        _("keep messages (days)"),
        null=True,
        blank=True,
        validators=_DAYS,
        help_text=_("Messages older than this are deleted every night. Empty: kept forever."),
    )
    keep_audio_days = models.PositiveIntegerField(
        _("keep audio (days)"),
        null=True,
        blank=True,
        validators=_DAYS,
        help_text=_("Audio older than this is deleted (the text stays). Empty: kept forever."),
    )
    redact_phone = models.BooleanField(_("mask phone numbers"), default=False)
    redact_id_number = models.BooleanField(_("mask Chinese ID card numbers"), default=False)
    redact_email = models.BooleanField(_("mask e-mail addresses"), default=False)
    redact_bank_card = models.BooleanField(_("mask bank card numbers"), default=False)
    redact_patterns = models.TextField(
        _("custom patterns"),
        blank=True,
        default="",
        help_text=_(
            "One regular expression a line; each match is replaced by [redacted]. "
            "No nested repeats, no alternatives inside a repeat, at most one unbounded repeat."
        ),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("retention policy")
        verbose_name_plural = _("retention policies")
        ordering = ["scope", "source", "id"]

    def __str__(self) -> str:
        if self.scope == RetentionScope.DEVICE and self.device_id:
            return f"device {self.device}"
        if self.scope == RetentionScope.AGENT and self.agent_id:
            return f"agent {self.agent}"
        return f"source {self.source}"

    def save(self, *args, **kwargs) -> None:
        self.derive_scope()
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "source", "scope_key"}
        super().save(*args, **kwargs)

    def derive_scope(self) -> None:
        """`source` and `scope_key` from the scope's agent or device."""
        if self.scope == RetentionScope.AGENT and self.agent_id:
            found = Agent.objects.filter(pk=self.agent_id).values_list("source", flat=True)
            self.source = found.first() or self.source
            self.scope_key = f"agent:{self.agent_id}"
        elif self.scope == RetentionScope.DEVICE and self.device_id:
            found = Device.objects.filter(pk=self.device_id).values_list("source", flat=True)
            self.source = found.first() or self.source
            self.scope_key = f"device:{self.device_id}"
        else:
            self.scope_key = f"source:{self.source}"

    def pattern_list(self) -> list[str]:
        return [line.strip() for line in self.redact_patterns.splitlines() if line.strip()]

    @property
    def redacts(self) -> bool:
        return bool(
            self.redact_phone
            or self.redact_id_number
            or self.redact_email
            or self.redact_bank_card
            or self.pattern_list()
        )

    def clean(self) -> None:
        errors: dict[str, list] = {}
        if self.scope == RetentionScope.SOURCE:
            if not self.source:
                errors["source"] = [_("A source policy names its source.")]
            elif (
                self.source != DEFAULT_SOURCE
                and not Source.objects.filter(key=self.source).exists()
            ):
                errors["source"] = [_("There is no source with this key.")]
            if self.agent_id or self.device_id:
                errors["scope"] = [_("A source policy names no agent and no device.")]
        elif self.scope == RetentionScope.AGENT:
            if not self.agent_id:
                errors["agent"] = [_("An agent policy names its agent.")]
            if self.device_id:
                errors["device"] = [_("An agent policy names no device.")]
        elif self.scope == RetentionScope.DEVICE:
            if not self.device_id:
                errors["device"] = [_("A device policy names its device.")]
            if self.agent_id:
                errors["agent"] = [_("A device policy names no agent.")]
        # The patterns themselves are checked by retention.redaction.validate_patterns
        # (the services and the admin form call it): models import no logic.
        if errors:
            raise ValidationError(errors)
        self.derive_scope()
        taken = RetentionPolicy.objects.filter(scope_key=self.scope_key).exclude(pk=self.pk)
        if taken.exists():
            raise ValidationError(
                {"scope": [_("Another policy already applies to this source, agent or device.")]}
            )


class DeletedDevice(models.Model):
    """A device whose history was deleted on demand: the sync never copies its rows created
    up to `history_before` again (chathistory/sync/convert.py)."""

    source = models.CharField(_("source"), max_length=32)
    mac = models.CharField(_("device identifier"), max_length=50)
    history_before = models.DateTimeField(
        _("history up to"), help_text=_("Messages created up to this moment are never copied.")
    )
    deleted_by = models.CharField(_("deleted by"), max_length=150, blank=True, default="")
    messages_deleted = models.PositiveIntegerField(_("messages deleted"), default=0)
    deleted_at = models.DateTimeField(_("deleted at"), auto_now=True)

    class Meta:
        verbose_name = _("deleted device history")
        verbose_name_plural = _("deleted device histories")
        constraints = [models.UniqueConstraint(fields=["source", "mac"], name="deleted_device_key")]

    def __str__(self) -> str:
        return f"{self.source}/{self.mac}"


class RetentionRun(models.Model):
    """One deletion or redaction pass: who or what ran it, on what, and how many rows went."""

    class Trigger(models.TextChoices):
        NIGHTLY = "nightly", _("nightly task")
        COMMAND = "command", _("command")
        API = "api", _("REST API")
        ADMIN = "admin", _("admin site")

    trigger = models.CharField(_("trigger"), max_length=8, choices=Trigger.choices)
    user = models.CharField(_("user"), max_length=150, blank=True, default="")
    action = models.CharField(_("action"), max_length=32)  # apply, delete-device, redact
    scope = models.CharField(_("scope"), max_length=200, blank=True, default="")
    started_at = models.DateTimeField(_("started at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    messages_deleted = models.PositiveBigIntegerField(_("messages deleted"), default=0)
    audio_deleted = models.PositiveBigIntegerField(_("audio deleted"), default=0)
    sessions_deleted = models.PositiveBigIntegerField(_("sessions deleted"), default=0)
    messages_redacted = models.PositiveBigIntegerField(_("messages redacted"), default=0)
    details = models.JSONField(_("details"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True, default="")

    class Meta:
        verbose_name = _("retention run")
        verbose_name_plural = _("retention runs")
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} {self.scope} ({self.started_at:%Y-%m-%d %H:%M})"
