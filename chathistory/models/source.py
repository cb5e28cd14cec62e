"""Where chat history comes from: one row per xiaozhi-esp32-server the hub copies."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from xiaozhi_hub.encrypted_fields import EncryptedTextField

# The key of the source made from ESP32_DATABASE_URL (and of every row copied before
# sources were rows): the `source` column of devices, agents, sessions and messages.
DEFAULT_SOURCE = "esp32"


class SourceKind(models.TextChoices):
    MYSQL = "mysql", _("xiaozhi-esp32-server database (MySQL)")
    MANAGER_API = "manager-api", _("manager-api REST API")


class AudioMode(models.TextChoices):
    OFF = "off", _("off: no audio is copied or played")
    LAZY = "lazy", _("on first play")
    SYNC = "sync", _("with every sync")


class Source(models.Model):
    """One xiaozhi-esp32-server the hub copies chat history from.

    `key` is what the copied rows carry in their `source` column: it never changes
    once rows exist. The source made from ESP32_DATABASE_URL has the key "esp32"
    and reads the settings' `esp32` alias (its `url` stays empty).
    """

    key = models.SlugField(
        _("key"),
        max_length=32,
        unique=True,
        help_text=_("A short name the copied rows carry, e.g. lab or site-a. It cannot change."),
    )
    name = models.CharField(_("name"), max_length=100, blank=True, default="")
    kind = models.CharField(
        _("kind"), max_length=16, choices=SourceKind.choices, default=SourceKind.MYSQL
    )
    url = EncryptedTextField(
        _("URL"),
        blank=True,
        default="",
        help_text=_(
            "mysql://user:password@host:3306/database, or the manager-api base URL "
            "(https://host/xiaozhi). Stored encrypted, shown masked."
        ),
    )
    token = EncryptedTextField(
        _("token"),
        blank=True,
        default="",
        help_text=_("The manager-api token. Stored encrypted, shown masked."),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    sync_interval = models.PositiveIntegerField(
        _("sync interval (seconds)"),
        default=30,
        help_text=_("How often the hub looks for new messages in this source."),
    )
    audio_mode = models.CharField(
        _("audio"), max_length=8, choices=AudioMode.choices, default=AudioMode.OFF
    )
    from_environment = models.BooleanField(
        _("from the environment"),
        default=False,
        help_text=_("Made from ESP32_DATABASE_URL: its connection comes from the settings."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("source")
        verbose_name_plural = _("sources")
        ordering = ["key"]

    def __str__(self) -> str:
        return self.name or self.key
