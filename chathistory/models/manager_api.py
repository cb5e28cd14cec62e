"""What the manager-api source copied of each remote session (docs/manager-api-source.md)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class RemoteSession(models.Model):
    """One session of a manager-api source as last copied: its count and date decide
    whether the next run fetches it again; a failed fetch waits for `next_retry_at`."""

    source = models.CharField(_("source"), max_length=32)
    agent_id = models.CharField(_("agent id"), max_length=64)
    session_id = models.CharField(_("session id"), max_length=100)
    chat_count = models.IntegerField(
        _("messages"), default=-1, help_text=_("chatCount when last copied (-1: never copied).")
    )
    remote_created_at = models.CharField(
        _("last message at (remote)"),
        max_length=40,
        blank=True,
        default="",
        help_text=_("createdAt of the session list when last copied, as the server wrote it."),
    )
    title = models.CharField(_("title"), max_length=255, blank=True, default="")
    failures = models.PositiveIntegerField(_("failures"), default=0)
    last_error = models.TextField(_("last error"), blank=True, default="")
    next_retry_at = models.DateTimeField(_("next retry at"), null=True, blank=True)
    copied_at = models.DateTimeField(_("copied at"), null=True, blank=True)
    copied_until = models.DateTimeField(
        _("copied until"),
        null=True,
        blank=True,
        help_text=_(
            "The newest message copied of this session: a later read of the session skips "
            "older ones, so messages deleted in the hub are not copied again."
        ),
    )
    copied_last = models.JSONField(
        _("copied at that time"),
        default=list,
        blank=True,
        help_text=_("Source ids of the messages copied with exactly that time."),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("remote session")
        verbose_name_plural = _("remote sessions")
        constraints = [
            models.UniqueConstraint(
                fields=["source", "agent_id", "session_id"], name="remote_session_key"
            )
        ]
        indexes = [models.Index(fields=["source", "failures"], name="remote_session_failed")]

    def __str__(self) -> str:
        return f"{self.source} {self.agent_id}/{self.session_id}"
