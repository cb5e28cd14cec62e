"""The rule kinds: what each watches, its parameters (with their bounds) and its defaults.

Pure data and validation, no database: the models validate a rule's `params`
with `clean_params`, and the migration's default rules are built from
`DEFAULT_RULES` (frozen there, as migrations must be).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

ENDPOINT_FAILED = "endpoint_failed"
ENDPOINT_DOWN = "endpoint_down"
TOKEN_EXPIRY = "token_expiry"
HEALTHY_RATIO = "healthy_ratio"
SERVER_DOWN = "mcp_server_down"
SYNC_FAILING = "sync_failing"
SYNC_LAG = "sync_lag"
INGEST_REJECTS = "ingest_rejects"

KIND_CHOICES = [
    (ENDPOINT_FAILED, _("Endpoint failed (gave up reconnecting)")),
    (ENDPOINT_DOWN, _("Endpoint degraded or not connected")),
    (TOKEN_EXPIRY, _("Endpoint token expires soon")),
    (HEALTHY_RATIO, _("Too few enabled endpoints healthy")),
    (SERVER_DOWN, _("Upstream MCP server down")),
    (SYNC_FAILING, _("Chat sync failing")),
    (SYNC_LAG, _("Chat sync lagging")),
    (INGEST_REJECTS, _("Report ingest rejecting requests")),
]

SEVERITIES = ("critical", "warning", "info")


@dataclass(frozen=True)
class Param:
    name: str
    default: float
    minimum: float
    maximum: float
    help: str  # lazy: shown in the admin in the page's language
    integer: bool = False


PARAMS: dict[str, tuple[Param, ...]] = {
    ENDPOINT_FAILED: (),
    ENDPOINT_DOWN: (),
    TOKEN_EXPIRY: (
        Param("days", 7, 0, 365, _("Fire when an endpoint's token expires within this many days.")),
    ),
    HEALTHY_RATIO: (
        Param(
            "percent",
            50,
            1,
            100,
            _("Fire when fewer than this percentage of enabled endpoints are healthy."),
        ),
    ),
    SERVER_DOWN: (),
    SYNC_FAILING: (
        Param(
            "runs", 3, 1, 1000, _("Fire after this many failed sync runs in a row."), integer=True
        ),
    ),
    SYNC_LAG: (
        Param(
            "minutes",
            30,
            1,
            100000,
            _("Fire when the last successful sync is older than this (minutes)."),
        ),
    ),
    INGEST_REJECTS: (
        Param(
            "percent",
            20,
            0,
            100,
            _("Fire when more than this percentage of reports were rejected…"),
        ),
        Param("window_minutes", 15, 1, 1440, _("…over this many minutes…"), integer=True),
        Param("min_requests", 10, 1, 1000000, _("…and at least this many came in."), integer=True),
    ),
}


def clean_params(kind: str, params: Any) -> dict[str, float | int]:
    """`params` checked against the kind's schema, defaults filled in.

    Raises ValueError with a message naming the parameter (nothing is stored).
    """
    if kind not in PARAMS:
        raise ValueError(gettext("unknown rule kind %(kind)r") % {"kind": kind})
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ValueError(gettext("parameters must be a JSON object"))
    specs = {spec.name: spec for spec in PARAMS[kind]}
    unknown = sorted(set(params) - set(specs))
    if unknown:
        allowed = ", ".join(specs) or gettext("none")
        raise ValueError(
            gettext("unknown parameter %(name)r for %(kind)s (allowed: %(allowed)s)")
            % {"name": unknown[0], "kind": kind, "allowed": allowed}
        )
    cleaned: dict[str, float | int] = {}
    for name, spec in specs.items():
        value = params.get(name, spec.default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            raise ValueError(gettext("%(name)s must be a number") % {"name": name})
        if spec.integer and int(value) != value:
            raise ValueError(gettext("%(name)s must be a whole number") % {"name": name})
        if not spec.minimum <= value <= spec.maximum:
            raise ValueError(
                gettext("%(name)s must be between %(minimum)s and %(maximum)s")
                % {"name": name, "minimum": f"{spec.minimum:g}", "maximum": f"{spec.maximum:g}"}
            )
        cleaned[name] = int(value) if spec.integer else value
    return cleaned


def params_help(kind: str) -> str:
    specs = PARAMS.get(kind, ())
    if not specs:
        return gettext("no parameters")
    return "; ".join(
        gettext("%(name)s (default %(default)s): %(help)s")
        % {"name": s.name, "default": f"{s.default:g}", "help": s.help}
        for s in specs
    )


# The rules a fresh hub starts with (name, kind, params, for minutes, severity, description).
# for_minutes is how long the condition must hold before the alert fires.
DEFAULT_RULES: tuple[dict[str, Any], ...] = (
    {
        "name": "Endpoint failed",
        "kind": ENDPOINT_FAILED,
        "for_minutes": 0,
        "severity": "critical",
        "description": "An endpoint gave up reconnecting (state failed).",
    },
    {
        "name": "Endpoint not connected",
        "kind": ENDPOINT_DOWN,
        "for_minutes": 5,
        "severity": "warning",
        "description": "An enabled endpoint is degraded or not connected for 5 minutes.",
    },
    {
        "name": "Endpoint token expires soon",
        "kind": TOKEN_EXPIRY,
        "params": {"days": 7},
        "for_minutes": 0,
        "severity": "warning",
        "description": "An endpoint's token expires within 7 days: get a new URL.",
    },
    {
        "name": "Fewer than half of the endpoints healthy",
        "kind": HEALTHY_RATIO,
        "params": {"percent": 50},
        "for_minutes": 2,
        "severity": "critical",
        "description": "Fewer than 50 % of the enabled endpoints are connected and healthy.",
    },
    {
        "name": "Upstream MCP server down",
        "kind": SERVER_DOWN,
        "for_minutes": 5,
        "severity": "warning",
        "description": "An enabled upstream MCP server is not ready for 5 minutes.",
    },
    {
        "name": "Chat sync failing",
        "kind": SYNC_FAILING,
        "params": {"runs": 3},
        "for_minutes": 0,
        "severity": "warning",
        "description": "The chat-history sync failed 3 runs in a row.",
    },
    {
        "name": "Chat sync lagging",
        "kind": SYNC_LAG,
        "params": {"minutes": 30},
        "for_minutes": 0,
        "severity": "warning",
        "description": "No successful chat-history sync for 30 minutes (source configured only).",
    },
    {
        "name": "Report ingest rejecting",
        "kind": INGEST_REJECTS,
        "params": {"percent": 20, "window_minutes": 15, "min_requests": 10},
        "for_minutes": 0,
        "severity": "warning",
        "description": "More than 20 % of chat reports rejected over 15 minutes.",
    },
)
