"""The endpoint pool's tables: endpoints, the global options, live status,
status-change events, the workers that hold leases on endpoints, and the
upstream MCP servers whose tools every endpoint is served (servers, tools,
the tool-call log)."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from endpoints.options import BY_FIELD, CONNECTION_OPTIONS, LOAD_BALANCE, OptionSpec
from endpoints.pool.config import ConnectionOptions, EndpointConfig
from endpoints.pool.status import ERROR_CLASSES, STATES
from endpoints.pool.tokens import token_expiry
from endpoints.upstreams.config import (
    TRANSPORTS,
    UPSTREAM_STRATEGIES,
    ReplicaConfig,
    ServerConfig,
)
from endpoints.upstreams.naming import server_name_problem
from endpoints.upstreams.records import CallOutcome
from xiaozhi_hub.masking import MASK, mask_text, mask_url

URL_MAX_LENGTH = 2000


def _validate_url(value: str, *, schemes: tuple[str, ...], kind: str, mask) -> None:
    """A URL of one of `schemes` ("not `kind` URL" if not) with a host; `mask` keeps
    its secrets out of the errors."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        raise ValidationError(
            "not a valid URL: %(url)s", code="invalid", params={"url": mask(value)}
        ) from None
    if parts.scheme.lower() not in schemes:
        raise ValidationError(
            f"not {kind} URL: %(url)s", code="scheme", params={"url": mask(value)}
        )
    if not parts.hostname:
        raise ValidationError(
            "the URL has no host: %(url)s", code="host", params={"url": mask(value)}
        )
    if len(value) > URL_MAX_LENGTH:
        raise ValidationError(f"the URL is longer than {URL_MAX_LENGTH} characters", code="length")


def validate_endpoint_url(value: str) -> None:
    """ws:// or wss:// with a host; the error never repeats the token."""
    _validate_url(value, schemes=("ws", "wss"), kind="a ws:// or wss://", mask=mask_url)


def _option_field(spec: OptionSpec, *, override: bool) -> models.Field:
    """A model field for one connection option: global (with default) or an override (null)."""
    extra = (
        {"null": True, "blank": True, "help_text": spec.help + " Empty: the global value."}
        if override
        else {"default": spec.default, "help_text": spec.help}
    )
    if spec.kind == "duration":
        return models.FloatField(validators=[MinValueValidator(spec.minimum)], **extra)
    if spec.kind == "count":
        return models.PositiveIntegerField(validators=[MinValueValidator(spec.minimum)], **extra)
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
    url = models.TextField(
        "URL",
        validators=[validate_endpoint_url],
        help_text="ws:// or wss:// endpoint URL including its token (kept secret).",
    )
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


# --- upstream MCP servers ------------------------------------------------------
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
    _validate_url(
        value, schemes=("http", "https"), kind="an http:// or https://", mask=mask_upstream_url
    )


def mask_upstream_url(url: str) -> str:
    """An upstream URL safe to show: password and every query value masked.

    Upstream services put keys in query parameters under many names (`key`,
    `api_key`, `apikey`...), so none of them is shown.
    """
    masked = mask_url(url)
    try:
        parts = urlsplit(masked)
    except ValueError:
        return masked
    if not parts.query:
        return masked
    query = "&".join(
        f"{item.split('=', 1)[0]}={MASK}" if "=" in item else item
        for item in parts.query.split("&")
    )
    return parts._replace(query=query).geturl()


def mask_mapping(values: dict | None) -> dict:
    """Env or headers with every value masked (the names stay readable)."""
    return {str(key): MASK for key in (values or {})}


def _validate_string_map(value, *, what: str) -> None:
    if not isinstance(value, dict):
        raise ValidationError(f"{what} must be an object of names to strings", code="type")
    for key, item in value.items():
        if not isinstance(key, str) or not key or not isinstance(item, str):
            raise ValidationError(
                f"{what} must map non-empty names to strings (bad entry {str(key)[:40]!r})",
                code="type",
            )


def validate_env(value) -> None:
    _validate_string_map(value, what="env")


def validate_headers(value) -> None:
    _validate_string_map(value, what="headers")


def validate_args(value) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError("args must be a list of strings", code="type")


def validate_replica_urls(value) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError("replica URLs must be a list of strings", code="type")
    for index, url in enumerate(value):
        try:
            validate_upstream_url(url)
        except ValidationError as exc:
            raise ValidationError(
                f"replica URL {index + 1}: {' '.join(exc.messages)}", code="replica"
            ) from None


class McpServer(models.Model):
    """An upstream MCP server whose tools every endpoint is served as `<name>__<tool>`."""

    name = models.CharField(
        max_length=32,
        unique=True,
        validators=[validate_server_name],
        help_text="Letters, digits, '-' and single '_'; tools are exposed as <name>__<tool>.",
    )
    transport = models.CharField(
        max_length=20, choices=[(t, t) for t in TRANSPORTS], default="stdio"
    )
    # stdio
    command = models.CharField(max_length=500, blank=True, help_text="stdio: the program to run.")
    args = models.JSONField(
        default=list, blank=True, validators=[validate_args], help_text="stdio: its arguments."
    )
    env = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_env],
        help_text="stdio: extra environment variables (values are secrets).",
    )
    cwd = models.CharField(
        max_length=500, blank=True, help_text="stdio: working directory (empty: the hub's)."
    )
    replicas = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1)],
        help_text="stdio: how many processes to run; calls are balanced among them.",
    )
    # sse / streamable-http; secrets: the URL may carry a key, headers a bearer token.
    url = models.TextField(
        "URL", blank=True, help_text="sse / streamable-http: the server's URL (kept secret)."
    )
    headers = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_headers],
        help_text="sse / streamable-http: HTTP headers sent with every request (secrets).",
    )
    replica_urls = models.JSONField(
        "replica URLs",
        default=list,
        blank=True,
        validators=[validate_replica_urls],
        help_text="sse / streamable-http: more URLs offering the same tools (secrets).",
    )

    enabled = models.BooleanField(default=True)
    call_timeout = models.FloatField(
        default=30.0,
        validators=[MinValueValidator(0.1)],
        help_text="Seconds a tool call may take unless the tool overrides it.",
    )
    load_balance = models.CharField(
        max_length=20,
        choices=[(s, s) for s in UPSTREAM_STRATEGIES],
        default="round-robin",
        help_text="How a call picks one of the replicas.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Live status, written by the pool workers (masked by the runtime).
    state = models.CharField(
        max_length=16, blank=True, choices=[(s, s) for s in SERVER_STATES], editable=False
    )
    status = models.JSONField(default=dict, blank=True, editable=False)
    last_error = models.TextField(blank=True, editable=False)
    status_updated_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = "MCP server"

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
            return target + (f" (+{extra} replica URL{'s' if extra != 1 else ''})" if extra else "")
        line = mask_text(" ".join([self.command, *(self.args or [])]).strip()) or "-"
        return line + (f" (x{self.replicas})" if self.replicas > 1 else "")

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.uses_url:
            if not self.url:
                errors["url"] = f"a {self.transport} server needs a URL"
            else:
                try:
                    validate_upstream_url(self.url)
                except ValidationError as exc:
                    errors["url"] = " ".join(exc.messages)
        elif not self.command.strip():
            errors["command"] = "a stdio server needs a command"
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

    server = models.ForeignKey(McpServer, on_delete=models.CASCADE, related_name="tools")
    upstream_name = models.CharField(max_length=200)
    exposed_name = models.CharField(max_length=64, editable=False, db_index=True)
    enabled = models.BooleanField(default=True)
    description = models.TextField(blank=True, editable=False)  # as listed upstream
    description_override = models.TextField(
        blank=True, help_text="Shown to the assistant instead of the upstream description."
    )
    timeout = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0.1)],
        help_text="Seconds a call may take; empty: the server's call timeout.",
    )
    input_schema = models.JSONField(default=dict, blank=True, editable=False)
    available = models.BooleanField(
        default=False, editable=False, help_text="Seen in the server's last tool listing."
    )
    usage_count = models.PositiveBigIntegerField(default=0, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, editable=False)
    last_error_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["server__name", "upstream_name"]
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

    at = models.DateTimeField(default=timezone.now)
    tool = models.CharField(max_length=200)  # the exposed name asked for
    tool_ref = models.ForeignKey(
        Tool, on_delete=models.SET_NULL, null=True, blank=True, related_name="calls"
    )
    server = models.ForeignKey(
        McpServer, on_delete=models.SET_NULL, null=True, blank=True, related_name="calls"
    )
    endpoint = models.ForeignKey(
        Endpoint, on_delete=models.SET_NULL, null=True, blank=True, related_name="tool_calls"
    )
    duration_ms = models.FloatField(default=0)
    outcome = models.CharField(max_length=16, choices=[(o, o) for o in CALL_OUTCOMES])
    error = models.TextField(blank=True)
    arguments = models.TextField(blank=True)  # JSON, truncated
    result = models.TextField(blank=True)  # text content, truncated
    replica = models.PositiveSmallIntegerField(null=True, blank=True)
    failovers = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["-at"], name="tool_call_recent")]
        verbose_name = "tool call"

    def __str__(self) -> str:
        return f"{self.tool} {self.outcome}"
