"""The endpoint pool's tables: endpoints, the global options, live status,
status-change events, and the workers that hold leases on endpoints."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from endpoints.options import BY_FIELD, CONNECTION_OPTIONS, LOAD_BALANCE, OptionSpec
from endpoints.pool.config import ConnectionOptions, EndpointConfig
from endpoints.pool.status import ERROR_CLASSES, STATES
from endpoints.pool.tokens import token_expiry
from xiaozhi_hub.encrypted_fields import EncryptedTextField, LookupDigestField
from xiaozhi_hub.masking import mask_url
from xiaozhi_hub.validators import validate_url


def validate_endpoint_url(value: str) -> None:
    """ws:// or wss:// with a host; the error never repeats the token."""
    validate_url(value, schemes=("ws", "wss"), kind="a ws:// or wss://", mask=mask_url)


def _option_field(spec: OptionSpec, *, override: bool) -> models.Field:
    """A model field for one connection option: global (with default) or an override (null)."""
    extra = (
        {"null": True, "blank": True, "help_text": spec.help + " Empty: the global value."}
        if override
        else {"default": spec.default, "help_text": spec.help}
    )
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
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "connection options"
        verbose_name_plural = "connection options"

    def __str__(self) -> str:
        return "Connection options (global)"

    @classmethod
    def load(cls) -> PoolOptions:
        options, _ = cls.objects.get_or_create(pk=cls.SINGLETON_ID)
        return options

    def clean(self) -> None:
        if self.max_reconnect_delay < self.reconnect_interval:
            raise ValidationError(
                {"max_reconnect_delay": "must be at least the reconnect interval"}
            )


class Endpoint(models.Model):
    name = models.CharField(max_length=100, unique=True)
    # A secret: the token in its query string lets anyone serve tools to the agent.
    # Stored encrypted; url_digest finds an endpoint by its URL (the config import).
    url = EncryptedTextField(
        "URL",
        validators=[validate_endpoint_url],
        help_text="ws:// or wss:// endpoint URL including its token (kept secret).",
    )
    url_digest = LookupDigestField(source="url")
    enabled = models.BooleanField(default=True)
    health_check_enabled = models.BooleanField(default=True)

    # Per-endpoint overrides; empty means "use the global connection options".
    health_check_interval = _option_field(BY_FIELD["health_check_interval"], override=True)
    reconnect_interval = _option_field(BY_FIELD["reconnect_interval"], override=True)
    max_reconnect_attempts = _option_field(BY_FIELD["max_reconnect_attempts"], override=True)
    max_reconnect_delay = _option_field(BY_FIELD["max_reconnect_delay"], override=True)
    connection_timeout = _option_field(BY_FIELD["connection_timeout"], override=True)
    reconnect_strategy = _option_field(BY_FIELD["reconnect_strategy"], override=True)
    jitter = models.BooleanField(
        null=True, blank=True, help_text=BY_FIELD["jitter"].help + " Empty: the global value."
    )
    reconnect_on_tools_change = models.BooleanField(
        default=False,
        help_text="Reconnect this endpoint when the tool list changes, for peers that "
        "ignore notifications/tools/list_changed.",
    )

    created_at = models.DateTimeField(auto_now_add=True)
    # Changes only with the configuration (leases are written with UPDATE, which
    # skips auto_now): workers compare it to notice edits they missed.
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    # Ownership: the worker holding the lease is the only one connected to it.
    owner = models.CharField(max_length=200, null=True, blank=True, editable=False)  # noqa: DJ001
    lease_expires_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
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
            return "no expiry"
        left = expiry - (now or timezone.now())
        if left <= timedelta(0):
            return "expired"
        if left < timedelta(days=1):
            return "expires in less than a day"
        days = left.days
        return f"expires in {days} day{'s' if days != 1 else ''}"

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

    def to_config(self, defaults: PoolOptions) -> EndpointConfig:
        return EndpointConfig(
            id=self.pk,
            name=self.name,
            url=self.url,
            enabled=self.enabled,
            health_check_enabled=self.health_check_enabled,
            options=self.connection_options(defaults),
            reconnect_on_tools_change=self.reconnect_on_tools_change,
        )

    def clean(self) -> None:
        interval = self.reconnect_interval
        delay = self.max_reconnect_delay
        if interval is not None and delay is not None and delay < interval:
            raise ValidationError(
                {"max_reconnect_delay": "must be at least the reconnect interval"}
            )


class EndpointLiveStatus(models.Model):
    """The last status the worker holding the endpoint reported (throttled writes)."""

    endpoint = models.OneToOneField(
        Endpoint, on_delete=models.CASCADE, primary_key=True, related_name="live"
    )
    worker = models.CharField(max_length=200, blank=True)
    state = models.CharField(max_length=16, choices=[(s, s) for s in STATES])
    connected = models.BooleanField(default=False)
    initialized = models.BooleanField(default=False)
    last_connected = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)  # masked by the pool
    error_class = models.CharField(
        max_length=16, blank=True, choices=[(c, c) for c in ERROR_CLASSES]
    )
    reconnect_attempts = models.PositiveIntegerField(default=0)
    next_reconnect_at = models.DateTimeField(null=True, blank=True)
    health_score = models.FloatField(default=0)
    rtt_ms = models.FloatField(null=True, blank=True)
    rtt_p95_ms = models.FloatField(null=True, blank=True)
    rtt_history = models.JSONField(default=list, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    total_requests = models.PositiveBigIntegerField(default=0)
    successful_requests = models.PositiveBigIntegerField(default=0)
    tool_calls = models.PositiveBigIntegerField(default=0)
    reconnect_history = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "live status"
        verbose_name_plural = "live status"

    def __str__(self) -> str:
        return f"{self.endpoint_id}: {self.state}"


class EndpointEvent(models.Model):
    """A status change of one endpoint (the health history); the newest N are kept."""

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="events")
    at = models.DateTimeField(default=timezone.now)
    state = models.CharField(max_length=16)
    previous_state = models.CharField(max_length=16, blank=True)
    error_class = models.CharField(max_length=16, blank=True)
    error = models.TextField(blank=True)  # masked by the pool
    health_score = models.FloatField(default=0)
    rtt_ms = models.FloatField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["endpoint", "-id"], name="endpoint_event_recent")]

    def __str__(self) -> str:
        return f"{self.endpoint_id} {self.previous_state or '-'} -> {self.state}"


class PoolWorker(models.Model):
    """A process running the pool; alive while its heartbeat is within the lease TTL."""

    name = models.CharField(max_length=200, unique=True)
    hostname = models.CharField(max_length=200)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField(default=timezone.now)
    heartbeat_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
