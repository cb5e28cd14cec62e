"""Tools defined in the hub itself, without an MCP server (xiaozhi-client's
`customMCPTools`), and the credentials of the platforms they call
(xiaozhi-client's `platforms`, e.g. Coze)."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from endpoints.upstreams.naming import MAX_NAME, SEPARATOR
from xiaozhi_hub.encrypted_fields import EncryptedJSONField

# http: call a URL; proxy: a Coze workflow or bot; mcp: an alias of another
# server's tool; chain: several tools in a row or at once; script: a command
# on the worker (needs endpoints.run_commands); function: a JavaScript module,
# which the hub cannot run (imported disabled, with the reason).
CUSTOM_TOOL_KINDS = ("http", "proxy", "mcp", "chain", "script", "function")
# Kinds that run a command on the worker: the same dangerous right as stdio servers.
COMMAND_KINDS = frozenset({"script"})
NAME_RE = re.compile(r"[A-Za-z0-9_-]+")


def validate_custom_tool_name(value: str) -> None:
    """Exposed as is: MCP's alphabet, at most 64 characters, and no `__`, which
    would make it look like `<server>__<tool>`."""
    if not value or len(value) > MAX_NAME or not NAME_RE.fullmatch(value):
        raise ValidationError(
            gettext("a tool name holds 1 to %(max)s letters, digits, '_' and '-'")
            % {"max": MAX_NAME},
            code="name",
        )
    if SEPARATOR in value:
        raise ValidationError(
            gettext("a custom tool name may not contain '__' (it separates server and tool)"),
            code="name",
        )


def validate_json_object(value) -> None:
    if not isinstance(value, dict):
        raise ValidationError(gettext("must be a JSON object"), code="type")


class Platform(models.Model):
    """A platform's credentials (xiaozhi-client's `platforms.<name>`), used by proxy tools."""

    name = models.CharField(_("name"), max_length=64, unique=True, help_text=_("For example coze."))
    # {"token": ..., "apiKey": ..., "baseUrl": ...}: secrets, stored encrypted.
    settings = EncryptedJSONField(
        _("settings"),
        default=dict,
        blank=True,
        validators=[validate_json_object],
        help_text=_("The platform's token or API key and base URL (kept secret)."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("platform")
        verbose_name_plural = _("platforms")

    def __str__(self) -> str:
        return self.name


class CustomTool(models.Model):
    """A tool served to every endpoint under its own name, handled by the hub."""

    name = models.CharField(
        _("name"),
        max_length=MAX_NAME,
        unique=True,
        validators=[validate_custom_tool_name],
        help_text=_("The name the assistant sees: letters, digits, '_' and '-'."),
    )
    kind = models.CharField(_("kind"), max_length=16, choices=[(k, k) for k in CUSTOM_TOOL_KINDS])
    description = models.TextField(_("description"), blank=True)
    input_schema = models.JSONField(
        _("input schema"),
        default=dict,
        blank=True,
        validators=[validate_json_object],
        help_text=_("JSON Schema of the arguments; calls are checked against it."),
    )
    # The handler's settings as xiaozhi-client writes them (url, headers, auth,
    # body template, workflow id, tools of a chain, script ...): may hold secrets.
    handler = EncryptedJSONField(
        _("handler"),
        default=dict,
        blank=True,
        validators=[validate_json_object],
        help_text=_("The handler's settings (kept secret)."),
    )
    enabled = models.BooleanField(_("enabled"), default=True)
    disabled_reason = models.TextField(
        _("disabled reason"),
        blank=True,
        help_text=_("Why the tool cannot run, when the hub knows it (e.g. a JavaScript function)."),
    )
    timeout = models.FloatField(
        _("timeout"),
        default=30.0,
        validators=[MinValueValidator(0.1)],
        help_text=_("Seconds a call may take."),
    )
    usage_count = models.PositiveBigIntegerField(_("usage count"), default=0, editable=False)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)
    last_error = models.TextField(_("last error"), blank=True, editable=False)
    last_error_at = models.DateTimeField(_("last error at"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("custom tool")
        verbose_name_plural = _("custom tools")

    def __str__(self) -> str:
        return self.name

    @property
    def runs_commands(self) -> bool:
        return self.kind in COMMAND_KINDS
