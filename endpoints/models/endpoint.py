"""The endpoint pool's tables: endpoints, the global options, live status,
status-change events, and the workers that hold leases on endpoints."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from endpoints.options import BY_FIELD, CONNECTION_OPTIONS, LOAD_BALANCE, OptionSpec
from endpoints.pool.config import (
    ConnectionOptions,
    EndpointConfig,
    PeerProfile,
    profile_for,
    resolve_peer_profile,
)
from endpoints.pool.status import ERROR_CLASSES, STATES
from endpoints.pool.tokens import token_expiry
from xiaozhi_hub.encrypted_fields import EncryptedTextField, LookupDigestField
from xiaozhi_hub.masking import mask_url
from xiaozhi_hub.validators import validate_url


def validate_endpoint_url(value: str) -> None:
    """ws:// or wss:// with a host; the error never repeats the token."""
    validate_url(value, schemes=("ws", "wss"), kind=_("a ws:// or wss://"), mask=mask_url)


# The options' names as the admin shows them (the fields of endpoints/options.py).
OPTION_NAMES = {
    "health_check_interval": _("health check interval"),
    "reconnect_interval": _("reconnect interval"),
    "max_reconnect_attempts": _("max reconnect attempts"),
    "max_reconnect_delay": _("max reconnect delay"),
    "connection_timeout": _("connection timeout"),
    "reconnect_strategy": _("reconnect strategy"),
    "jitter": _("jitter"),
    "load_balance_strategy": _("load balance strategy"),
}
GLOBAL_VALUE = _("Empty: the global value.")


def _option_field(spec: OptionSpec, *, override: bool) -> models.Field:
    """A model field for one connection option: global (with default) or an override (null)."""
    extra = (
        {"null": True, "blank": True, "help_text": format_lazy("{} {}", spec.help, GLOBAL_VALUE)}
        if override
        else {"default": spec.default, "help_text": spec.help}
    )
    extra["verbose_name"] = OPTION_NAMES.get(spec.field, spec.field.replace("_", " "))
    if spec.kind in ("duration", "count"):
        bounds = [MinValueValidator(spec.minimum), MaxValueValidator(spec.maximum)]
        field = models.FloatField if spec.kind == "duration" else models.PositiveIntegerField
        return field(validators=bounds, **extra)
    if spec.kind == "choice":
        choices = [(choice, choice) for choice in spec.choices]
        if override:
            extra["null"], extra["blank"] = False, True
            extra["default"] = ""
        return models.CharField(max_length=32, choices=choices, **extra)
    return models.BooleanField(**extra)


class PoolOptions(models.Model):
    """The global connection options (one row, pk=1), edited in the admin or via REST."""

    SINGLETON_ID = 1

    health_check_interval = _option_field(BY_FIELD["health_check_interval"], override=False)
    reconnect_interval = _option_field(BY_FIELD["reconnect_interval"], override=False)
    max_reconnect_attempts = _option_field(BY_FIELD["max_reconnect_attempts"], override=False)
    max_reconnect_delay = _option_field(BY_FIELD["max_reconnect_delay"], override=False)
    connection_timeout = _option_field(BY_FIELD["connection_timeout"], override=False)
    reconnect_strategy = _option_field(BY_FIELD["reconnect_strategy"], override=False)
    jitter = _option_field(BY_FIELD["jitter"], override=False)
    load_balance_strategy = _option_field(LOAD_BALANCE, override=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("connection options")
        verbose_name_plural = _("connection options")

    def __str__(self) -> str:
        return gettext("Connection options (global)")

    @classmethod
    def load(cls) -> PoolOptions:
        options, _ = cls.objects.get_or_create(pk=cls.SINGLETON_ID)
        return options

    def clean(self) -> None:
        if self.max_reconnect_delay < self.reconnect_interval:
            raise ValidationError(
                {"max_reconnect_delay": _("must be at least the reconnect interval")}
            )


class Endpoint(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    # A secret: the token in its query string lets anyone serve tools to the agent.
    # Stored encrypted; url_digest finds an endpoint by its URL (the config import).
    url = EncryptedTextField(
        _("URL"),
        validators=[validate_endpoint_url],
        help_text=_("ws:// or wss:// endpoint URL including its token (kept secret)."),
    )
    url_digest = LookupDigestField(source="url")
    enabled = models.BooleanField(_("enabled"), default=True)
    health_check_enabled = models.BooleanField(_("health check enabled"), default=True)

    # Per-endpoint overrides; empty means "use the global connection options".
    health_check_interval = _option_field(BY_FIELD["health_check_interval"], override=True)
    reconnect_interval = _option_field(BY_FIELD["reconnect_interval"], override=True)
    max_reconnect_attempts = _option_field(BY_FIELD["max_reconnect_attempts"], override=True)
    max_reconnect_delay = _option_field(BY_FIELD["max_reconnect_delay"], override=True)
    connection_timeout = _option_field(BY_FIELD["connection_timeout"], override=True)
    reconnect_strategy = _option_field(BY_FIELD["reconnect_strategy"], override=True)
    jitter = models.BooleanField(
        _("jitter"),
        null=True,
        blank=True,
        help_text=format_lazy("{} {}", BY_FIELD["jitter"].help, GLOBAL_VALUE),
    )
    reconnect_on_tools_change = models.BooleanField(
        _("reconnect on tools change"),
        default=False,
        help_text=_(
            "Reconnect this endpoint when the tool list changes, for peers that "
            "ignore notifications/tools/list_changed."
        ),
    )

    # How the peer behaves: a xiaozhi.me-style broker initializes on connect and
    # answers MCP ping; a self-hosted relay (mcp-endpoint-server) initializes only
    # when a device talks and routes nothing the hub originates.
    peer_profile = models.CharField(
        _("peer profile"),
        max_length=16,
        choices=[
            ("auto", _("automatic (from the URL)")),
            ("broker", _("broker (xiaozhi.me)")),
            ("relay", _("self-hosted relay")),
        ],
        default="auto",
        help_text=_(
            "Automatic: a URL with /mcp_endpoint/mcp/ is a self-hosted relay, any other a broker."
        ),
    )

    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    # Changes only with the configuration (leases are written with UPDATE, which
    # skips auto_now): workers compare it to notice edits they missed.
    updated_at = models.DateTimeField(_("updated at"), auto_now=True, db_index=True)

    # Ownership: the worker holding the lease is the only one connected to it.
    owner = models.CharField(_("owner"), max_length=200, null=True, blank=True, editable=False)  # noqa: DJ001
    lease_expires_at = models.DateTimeField(
        _("lease expires at"), null=True, blank=True, editable=False
    )

    class Meta:
        verbose_name = _("endpoint")
        verbose_name_plural = _("endpoints")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name

    @property
    def masked_url(self) -> str:
        return mask_url(self.url)

    @property
    def token_expires_at(self) -> datetime | None:
        return token_expiry(self.url)

    def token_expired(self, *, now: datetime | None = None) -> bool:
        expiry = self.token_expires_at
        return expiry is not None and expiry <= (now or timezone.now())

    def token_expiry_label(self, *, now: datetime | None = None) -> str:
        expiry = self.token_expires_at
        if expiry is None:
            return gettext("no expiry")
        left = expiry - (now or timezone.now())
        if left <= timedelta(0):
            return gettext("expired")
        if left < timedelta(days=1):
            return gettext("expires in less than a day")
        days = left.days
        return ngettext("expires in %(days)s day", "expires in %(days)s days", days) % {
            "days": days
        }

    def overrides(self) -> dict:
        """{field: value} of the options this endpoint overrides."""
        return {
            spec.field: getattr(self, spec.field)
            for spec in CONNECTION_OPTIONS
            if getattr(self, spec.field) not in (None, "")
        }

    def connection_options(self, defaults: PoolOptions) -> ConnectionOptions:
        merged = {spec.field: getattr(defaults, spec.field) for spec in CONNECTION_OPTIONS}
        merged.update(self.overrides())
        return ConnectionOptions(**merged)

    @property
    def effective_peer_profile(self) -> str:
        """ "broker" or "relay": the configured profile, "auto" resolved from the URL."""
        return resolve_peer_profile(self.peer_profile, self.url)

    def to_config(self, defaults: PoolOptions) -> EndpointConfig:
        return EndpointConfig(
            id=self.pk,
            name=self.name,
            url=self.url,
            enabled=self.enabled,
            health_check_enabled=self.health_check_enabled,
            options=self.connection_options(defaults),
            reconnect_on_tools_change=self.reconnect_on_tools_change,
            profile=profile_for(self.peer_profile, self.url, broker=broker_profile()),
        )

    def clean(self) -> None:
        interval = self.reconnect_interval
        delay = self.max_reconnect_delay
        if interval is not None and delay is not None and delay < interval:
            raise ValidationError(
                {"max_reconnect_delay": _("must be at least the reconnect interval")}
            )


def broker_profile() -> PeerProfile:
    """The broker profile with this process's settings (HUB_BROKER_*)."""
    return PeerProfile(
        "broker",
        initialize_timeout=settings.HUB_BROKER_INITIALIZE_TIMEOUT or None,
        mcp_ping=settings.HUB_BROKER_MCP_PING,
    )


class EndpointLiveStatus(models.Model):
    """The last status the worker holding the endpoint reported (throttled writes)."""

    endpoint = models.OneToOneField(
        Endpoint,
        on_delete=models.CASCADE,
        verbose_name=_("endpoint"),
        primary_key=True,
        related_name="live",
    )
    worker = models.CharField(_("worker"), max_length=200, blank=True)
    state = models.CharField(_("state"), max_length=16, choices=[(s, s) for s in STATES])
    connected = models.BooleanField(_("connected"), default=False)
    initialized = models.BooleanField(_("initialized"), default=False)
    last_connected = models.DateTimeField(_("last connected"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)  # masked by the pool
    error_class = models.CharField(
        _("error class"), max_length=16, blank=True, choices=[(c, c) for c in ERROR_CLASSES]
    )
    reconnect_attempts = models.PositiveIntegerField(_("reconnect attempts"), default=0)
    next_reconnect_at = models.DateTimeField(_("next reconnect at"), null=True, blank=True)
    health_score = models.FloatField(_("health score"), default=0)
    rtt_ms = models.FloatField(_("rtt ms"), null=True, blank=True)
    rtt_p95_ms = models.FloatField(_("rtt p95 ms"), null=True, blank=True)
    rtt_history = models.JSONField(_("rtt history"), default=list, blank=True)
    consecutive_failures = models.PositiveIntegerField(_("consecutive failures"), default=0)
    total_requests = models.PositiveBigIntegerField(_("total requests"), default=0)
    successful_requests = models.PositiveBigIntegerField(_("successful requests"), default=0)
    tool_calls = models.PositiveBigIntegerField(_("tool calls"), default=0)
    reconnect_history = models.JSONField(_("reconnect history"), default=list, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("live status")
        verbose_name_plural = _("live status")

    def __str__(self) -> str:
        return f"{self.endpoint_id}: {self.state}"


class EndpointEvent(models.Model):
    """A status change of one endpoint (the health history); the newest N are kept."""

    endpoint = models.ForeignKey(
        Endpoint, on_delete=models.CASCADE, verbose_name=_("endpoint"), related_name="events"
    )
    at = models.DateTimeField(_("at"), default=timezone.now)
    state = models.CharField(_("state"), max_length=16)
    previous_state = models.CharField(_("previous state"), max_length=16, blank=True)
    error_class = models.CharField(_("error class"), max_length=16, blank=True)
    error = models.TextField(_("error"), blank=True)  # masked by the pool
    health_score = models.FloatField(_("health score"), default=0)
    rtt_ms = models.FloatField(_("rtt ms"), null=True, blank=True)
    worker = models.CharField(_("worker"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("endpoint event")
        verbose_name_plural = _("endpoint events")
        ordering = ["-id"]
        indexes = [models.Index(fields=["endpoint", "-id"], name="endpoint_event_recent")]

    def __str__(self) -> str:
        return f"{self.endpoint_id} {self.previous_state or '-'} -> {self.state}"


class PoolWorker(models.Model):
    """A process running the pool; alive while its heartbeat is within the lease TTL."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    hostname = models.CharField(_("hostname"), max_length=200)
    pid = models.PositiveIntegerField(
        _("pid"),
    )
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    heartbeat_at = models.DateTimeField(_("heartbeat at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("pool worker")
        verbose_name_plural = _("pool workers")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
