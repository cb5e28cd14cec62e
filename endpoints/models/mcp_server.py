"""The upstream MCP servers whose tools every endpoint is served: servers, their
tools (with the operator's choices), and the tool-call log."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from endpoints.mcp_server_secrets import mask_upstream_url
from endpoints.upstreams.config import (
    TRANSPORTS,
    UPSTREAM_STRATEGIES,
    ReplicaConfig,
    ServerConfig,
)
from endpoints.upstreams.naming import server_name_problem
from endpoints.upstreams.records import CallOutcome
from xiaozhi_hub.encrypted_fields import EncryptedJSONField, EncryptedTextField
from xiaozhi_hub.masking import mask_text
from xiaozhi_hub.validators import validate_url

from .endpoint import Endpoint

SERVER_STATES = ("starting", "ready", "restarting", "failed", "stopped")


CALL_OUTCOMES: tuple[CallOutcome, ...] = (
    "ok",
    "tool_error",
    "timeout",
    "unavailable",
    "not_found",
    "error",
)


def validate_server_name(value: str) -> None:
    problem = server_name_problem(value)
    if problem:
        raise ValidationError(problem, code="name")


def validate_upstream_url(value: str) -> None:
    """http:// or https:// with a host; the error never repeats a token."""
    validate_url(
        value, schemes=("http", "https"), kind=_("an http:// or https://"), mask=mask_upstream_url
    )


def _validate_string_map(value, *, what: str) -> None:
    if not isinstance(value, dict):
        raise ValidationError(
            gettext("%(what)s must be an object of names to strings") % {"what": what},
            code="type",
        )
    for key, item in value.items():
        if not isinstance(key, str) or not key or not isinstance(item, str):
            raise ValidationError(
                gettext("%(what)s must map non-empty names to strings (bad entry %(entry)s)")
                % {"what": what, "entry": repr(str(key)[:40])},
                code="type",
            )


def validate_env(value) -> None:
    _validate_string_map(value, what="env")


def validate_headers(value) -> None:
    _validate_string_map(value, what="headers")


def validate_args(value) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError(gettext("args must be a list of strings"), code="type")


def validate_replica_urls(value) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError(gettext("replica URLs must be a list of strings"), code="type")
    for index, url in enumerate(value):
        try:
            validate_upstream_url(url)
        except ValidationError as exc:
            raise ValidationError(
                gettext("replica URL %(number)s: %(problem)s")
                % {"number": index + 1, "problem": " ".join(exc.messages)},
                code="replica",
            ) from None


class McpServer(models.Model):
    """An upstream MCP server whose tools every endpoint is served as `<name>__<tool>`."""

    name = models.CharField(
        _("name"),
        max_length=32,
        unique=True,
        validators=[validate_server_name],
        help_text=_("Letters, digits, '-' and single '_'; tools are exposed as <name>__<tool>."),
    )
    transport = models.CharField(
        _("transport"), max_length=20, choices=[(t, t) for t in TRANSPORTS], default="stdio"
    )
    # stdio
    command = models.CharField(
        _("command"), max_length=500, blank=True, help_text=_("stdio: the program to run.")
    )
    args = models.JSONField(
        _("arguments"),
        default=list,
        blank=True,
        validators=[validate_args],
        help_text=_("stdio: its arguments."),
    )
    env = EncryptedJSONField(
        _("environment"),
        default=dict,
        blank=True,
        validators=[validate_env],
        help_text=_("stdio: extra environment variables (values are secrets)."),
    )
    cwd = models.CharField(
        _("working directory"),
        max_length=500,
        blank=True,
        help_text=_("stdio: working directory (empty: the hub's)."),
    )
    replicas = models.PositiveSmallIntegerField(
        _("replicas"),
        default=1,
        validators=[MinValueValidator(1)],
        help_text=_("stdio: how many processes to run; calls are balanced among them."),
    )
    # sse / streamable-http; secrets: the URL may carry a key, headers a bearer token.
    # The secrets (env, url, headers, replica_urls) are stored encrypted.
    url = EncryptedTextField(
        _("URL"), blank=True, help_text=_("sse / streamable-http: the server's URL (kept secret).")
    )
    headers = EncryptedJSONField(
        _("headers"),
        default=dict,
        blank=True,
        validators=[validate_headers],
        help_text=_("sse / streamable-http: HTTP headers sent with every request (secrets)."),
    )
    replica_urls = EncryptedJSONField(
        _("replica URLs"),
        default=list,
        blank=True,
        validators=[validate_replica_urls],
        help_text=_("sse / streamable-http: more URLs offering the same tools (secrets)."),
    )

    enabled = models.BooleanField(_("enabled"), default=True)
    call_timeout = models.FloatField(
        _("call timeout"),
        default=30.0,
        validators=[MinValueValidator(0.1)],
        help_text=_("Seconds a tool call may take unless the tool overrides it."),
    )
    load_balance = models.CharField(
        _("load balancing"),
        max_length=20,
        choices=[(s, s) for s in UPSTREAM_STRATEGIES],
        default="round-robin",
        help_text=_("How a call picks one of the replicas."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    # Live status, written by the pool workers (masked by the runtime).
    state = models.CharField(
        _("state"),
        max_length=16,
        blank=True,
        choices=[(s, s) for s in SERVER_STATES],
        editable=False,
    )
    status = models.JSONField(_("status"), default=dict, blank=True, editable=False)
    last_error = models.TextField(_("last error"), blank=True, editable=False)
    status_updated_at = models.DateTimeField(
        _("status updated"), null=True, blank=True, editable=False
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("MCP server")
        verbose_name_plural = _("MCP servers")
        # Adding or changing a stdio server runs a command on the worker: its own right.
        permissions = [("run_commands", _("Can add or change MCP servers that run commands"))]

    def __str__(self) -> str:
        return self.name

    @property
    def uses_url(self) -> bool:
        return self.transport != "stdio"

    @property
    def masked_target(self) -> str:
        """What it runs or where it connects, safe to show."""
        if self.uses_url:
            extra = len(self.replica_urls or [])
            target = mask_upstream_url(self.url) if self.url else "-"
            if not extra:
                return target
            more = ngettext("(+%(count)s replica URL)", "(+%(count)s replica URLs)", extra)
            return f"{target} {more % {'count': extra}}"
        line = mask_text(" ".join([self.command, *(self.args or [])]).strip()) or "-"
        return line + (f" (x{self.replicas})" if self.replicas > 1 else "")

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.uses_url:
            if not self.url:
                errors["url"] = gettext("a %(transport)s server needs a URL") % {
                    "transport": self.transport
                }
            else:
                try:
                    validate_upstream_url(self.url)
                except ValidationError as exc:
                    errors["url"] = " ".join(exc.messages)
        elif not self.command.strip():
            errors["command"] = gettext("a stdio server needs a command")
        if errors:
            raise ValidationError(errors)

    def to_config(self) -> ServerConfig:
        if self.uses_url:
            headers = tuple(sorted((self.headers or {}).items()))
            urls = [self.url, *(self.replica_urls or [])]
            replicas = tuple(ReplicaConfig(url=url, headers=headers) for url in urls)
        else:
            replica = ReplicaConfig(
                command=self.command,
                args=tuple(self.args or ()),
                env=tuple(sorted((self.env or {}).items())),
                cwd=self.cwd or None,
            )
            replicas = (replica,) * max(1, self.replicas)
        return ServerConfig(
            id=self.pk,
            name=self.name,
            transport=self.transport,
            replicas=replicas,
            enabled=self.enabled,
            call_timeout=self.call_timeout,
            load_balance=self.load_balance,
        )


class Tool(models.Model):
    """One upstream tool and the operator's choices for it (kept when it disappears)."""

    server = models.ForeignKey(
        McpServer, on_delete=models.CASCADE, related_name="tools", verbose_name=_("MCP server")
    )
    upstream_name = models.CharField(_("upstream name"), max_length=200)
    exposed_name = models.CharField(_("exposed name"), max_length=64, editable=False, db_index=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    # as listed upstream
    description = models.TextField(_("description"), blank=True, editable=False)
    description_override = models.TextField(
        _("description override"),
        blank=True,
        help_text=_("Shown to the assistant instead of the upstream description."),
    )
    timeout = models.FloatField(
        _("timeout"),
        null=True,
        blank=True,
        validators=[MinValueValidator(0.1)],
        help_text=_("Seconds a call may take; empty: the server's call timeout."),
    )
    input_schema = models.JSONField(_("input schema"), default=dict, blank=True, editable=False)
    available = models.BooleanField(
        _("available"),
        default=False,
        editable=False,
        help_text=_("Seen in the server's last tool listing."),
    )
    usage_count = models.PositiveBigIntegerField(_("usage count"), default=0, editable=False)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)
    last_error = models.TextField(_("last error"), blank=True, editable=False)
    last_error_at = models.DateTimeField(_("last error at"), null=True, blank=True, editable=False)

    class Meta:
        ordering = ["server__name", "upstream_name"]
        verbose_name = _("tool")
        verbose_name_plural = _("tools")
        constraints = [
            models.UniqueConstraint(fields=["server", "upstream_name"], name="tool_unique_name")
        ]

    def __str__(self) -> str:
        return self.exposed_name

    @property
    def effective_description(self) -> str:
        return self.description_override or self.description


class ToolCall(models.Model):
    """The tool-call log (retention: HUB_TOOL_LOG_RETENTION_DAYS / HUB_TOOL_LOG_MAX_ROWS)."""

    at = models.DateTimeField(_("at"), default=timezone.now)
    tool = models.CharField(_("tool"), max_length=200)  # the exposed name asked for
    tool_ref = models.ForeignKey(
        Tool,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="calls",
        verbose_name=_("tool row"),
    )
    server = models.ForeignKey(
        McpServer,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="calls",
        verbose_name=_("MCP server"),
    )
    custom_tool = models.ForeignKey(
        "endpoints.CustomTool",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="calls",
        verbose_name=_("custom tool"),
    )
    endpoint = models.ForeignKey(
        Endpoint,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="tool_calls",
        verbose_name=_("endpoint"),
    )
    duration_ms = models.FloatField(_("duration (ms)"), default=0)
    outcome = models.CharField(_("outcome"), max_length=16, choices=[(o, o) for o in CALL_OUTCOMES])
    error = models.TextField(_("error"), blank=True)
    arguments = models.TextField(_("arguments"), blank=True)  # JSON, truncated
    result = models.TextField(_("result"), blank=True)  # text content, truncated
    replica = models.PositiveSmallIntegerField(_("replica"), null=True, blank=True)
    failovers = models.PositiveSmallIntegerField(_("failovers"), default=0)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["-at"], name="tool_call_recent")]
        verbose_name = _("tool call")
        verbose_name_plural = _("tool calls")

    def __str__(self) -> str:
        return f"{self.tool} {self.outcome}"
