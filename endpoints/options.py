"""The connection options: one description used by the models, the REST API,
the management commands and the xiaozhi.config.json import.

The database stores seconds; the REST API and xiaozhi.config.json speak the
original client's `connectionOptions` (camelCase keys, durations in
milliseconds), so an operator can paste the same JSON in either place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _

from endpoints.pool.config import LOAD_BALANCE_STRATEGIES, RECONNECT_STRATEGIES


@dataclass(frozen=True)
class OptionSpec:
    field: str  # model field and ConnectionOptions attribute
    key: str  # camelCase key in REST and xiaozhi.config.json
    kind: str  # "duration" (s in the DB, ms in JSON) | "count" | "choice" | "bool"
    default: Any
    minimum: float | None = None
    maximum: float | None = None  # a bound, so no value can switch a behaviour off in effect
    choices: tuple[str, ...] = ()
    help: str = ""

    def describe_range(self) -> str:
        if self.kind == "duration":
            return (
                f"a number of milliseconds from {int(self.minimum * 1000)}"
                f" to {int(self.maximum * 1000)}"
            )
        if self.kind == "count":
            return f"a whole number from {int(self.minimum)} to {int(self.maximum)}"
        if self.kind == "choice":
            return "one of " + ", ".join(self.choices)
        return "true or false"


CONNECTION_OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec(
        "health_check_interval", "healthCheckInterval", "duration", 30.0, 1.0, 3600.0,
        help=_("Seconds between the hub's MCP pings to the endpoint."),
    ),
    OptionSpec(
        "reconnect_interval", "reconnectInterval", "duration", 5.0, 0.1, 3600.0,
        help=_("Base delay in seconds before reconnecting (the strategy grows it)."),
    ),
    OptionSpec(
        "max_reconnect_attempts", "maxReconnectAttempts", "count", 10, 0, 1_000_000,
        help=_("Failed attempts in a row before the endpoint is marked failed (0 = forever)."),
    ),
    OptionSpec(
        "max_reconnect_delay", "maxReconnectDelay", "duration", 30.0, 0.1, 86400.0,
        help=_("Upper bound in seconds of any reconnect delay."),
    ),
    OptionSpec(
        "connection_timeout", "connectionTimeout", "duration", 10.0, 0.5, 300.0,
        help=_("Seconds a connection attempt (and a health-check ping) may take."),
    ),
    OptionSpec(
        "reconnect_strategy", "reconnectStrategy", "choice", "exponential-backoff",
        choices=RECONNECT_STRATEGIES,
        help=_("How the reconnect delay grows from one attempt to the next."),
    ),
    OptionSpec(
        "jitter", "jitter", "bool", True,
        help=_("Randomise each delay a little so many endpoints do not retry in step."),
    ),
)  # fmt: skip

LOAD_BALANCE = OptionSpec(
    "load_balance_strategy", "loadBalanceStrategy", "choice", "round-robin",
    choices=LOAD_BALANCE_STRATEGIES,
    help=_("How the hub picks an endpoint for requests it originates (probe, checks)."),
)  # fmt: skip

POOL_OPTIONS = (*CONNECTION_OPTIONS, LOAD_BALANCE)
# The model fields of the per-endpoint connection options (admin forms, services).
CONNECTION_FIELDS = tuple(spec.field for spec in CONNECTION_OPTIONS)
BY_KEY = {spec.key: spec for spec in POOL_OPTIONS}
BY_FIELD = {spec.field: spec for spec in POOL_OPTIONS}


class OptionError(ValueError):
    """A bad option value; `key` names it (camelCase) for the JSON path in errors."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


def value_from_json(spec: OptionSpec, value: Any) -> Any:
    """A JSON value (ms for durations) as the database stores it, or OptionError."""
    wanted = spec.describe_range()
    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise OptionError(spec.key, f"must be {wanted}")
        return value
    if spec.kind == "choice":
        if value not in spec.choices:
            raise OptionError(spec.key, f"must be {wanted}, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not _finite(value):
        raise OptionError(spec.key, f"must be {wanted}, got {value!r}")
    if spec.kind == "count":
        if value != int(value) or not spec.minimum <= value <= spec.maximum:
            raise OptionError(spec.key, f"must be {wanted}, got {value!r}")
        return int(value)
    seconds = value / 1000
    if not spec.minimum <= seconds <= spec.maximum:
        raise OptionError(spec.key, f"must be {wanted}, got {value!r}")
    return seconds


def _finite(value: int | float) -> bool:
    # A float that is NaN or infinite, or an int too large for a float (10**400), is no option.
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def value_to_json(spec: OptionSpec, value: Any) -> Any:
    if value is None:
        return None
    if spec.kind == "duration":
        ms = value * 1000
        return int(ms) if float(ms).is_integer() else ms
    return value


def options_from_json(data: Any, *, specs=POOL_OPTIONS, allow_null: bool = False) -> dict:
    """{camelCase: json value} -> {field: db value}; unknown keys are errors.

    With allow_null a null value clears a per-endpoint override.
    """
    if not isinstance(data, dict):
        raise OptionError("options", "must be an object")
    known = {spec.key: spec for spec in specs}
    fields = {}
    for key, value in data.items():
        spec = known.get(key)
        if spec is None:
            raise OptionError(key, "unknown option; known: " + ", ".join(known))
        if value is None and allow_null:
            fields[spec.field] = None
        else:
            fields[spec.field] = value_from_json(spec, value)
    return fields


def options_to_json(source: Any, *, specs=POOL_OPTIONS, skip_none: bool = False) -> dict:
    """An object with the option attributes -> {camelCase: json value}."""
    out = {}
    for spec in specs:
        value = getattr(source, spec.field)
        if skip_none and value in (None, ""):  # "" = a choice override left empty
            continue
        out[spec.key] = value_to_json(spec, value)
    return out
