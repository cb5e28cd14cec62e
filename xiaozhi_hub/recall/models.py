"""Which endpoint may read which agent's chat history through the history__* tools."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from chathistory.models import Agent
from endpoints.models import Endpoint

# The tools' hard bounds: whatever the row says, an answer never holds more.
MAX_ROWS = 20
MIN_CHARS, MAX_CHARS = 500, 20_000


class HistoryAccess(models.Model):
    """An endpoint linked to an agent: its peer gets the history tools over that
    agent's messages (the agent is (source, agent id): no other source's rows)."""

    endpoint = models.OneToOneField(
        Endpoint,
        on_delete=models.CASCADE,
        related_name="history_access",
        verbose_name=_("endpoint"),
    )
    agent = models.ForeignKey(
        Agent,
        on_delete=models.CASCADE,
        related_name="history_access",
        verbose_name=_("agent"),
        help_text=_("The agent whose chat history this endpoint's assistant may look up."),
    )
    enabled = models.BooleanField(
        _("enabled"),
        default=True,
        help_text=_("Offer the history tools to this endpoint. Off: its tool list is as before."),
    )
    max_rows = models.PositiveSmallIntegerField(
        _("most messages per answer"),
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_ROWS)],
        help_text=_("The most messages one tool answer holds (1 to 20)."),
    )
    max_chars = models.PositiveIntegerField(
        _("most characters per answer"),
        default=4000,
        validators=[MinValueValidator(MIN_CHARS), MaxValueValidator(MAX_CHARS)],
        help_text=_("The longest answer, in characters (500 to 20000): longer ones are cut."),
    )
    days = models.PositiveIntegerField(
        _("days back"),
        default=0,
        validators=[MaxValueValidator(3650)],
        help_text=_("How many days back the tools may look; 0: the whole history."),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("history access")
        verbose_name_plural = _("history access")
        ordering = ["endpoint_id"]

    def __str__(self) -> str:
        return f"{self.endpoint} → {self.agent}"
