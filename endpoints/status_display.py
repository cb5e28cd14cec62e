"""An endpoint's live status as a person reads it: words for states and error classes,
"—" for what is not known, numbers with units, times in the hub's zone.

The admin's change page and the manual check's messages use these; the REST and
console payloads keep their raw values (the console's JavaScript formats them).
"""

from __future__ import annotations

from datetime import datetime

from django.template.defaultfilters import date as date_filter
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.timesince import timesince
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from xiaozhi_hub.masking import mask_text

MISSING = "—"  # a value nobody reported yet

STATE_LABELS = {
    "connecting": gettext_lazy("Connecting"),
    "connected": gettext_lazy("Connected"),
    "degraded": gettext_lazy("Degraded"),
    "backoff": gettext_lazy("Backing off"),
    "failed": gettext_lazy("Failed"),
    "disabled": gettext_lazy("Disabled"),
}
ERROR_CLASS_LABELS = {
    "network": gettext_lazy("network"),
    "timeout": gettext_lazy("timeout"),
    "auth": gettext_lazy("authentication"),
    "server": gettext_lazy("server"),
    "protocol": gettext_lazy("protocol"),
}
# The timeline's words for a run of one state (lower case: they follow one another).
STATE_RUN_LABELS = {
    "connecting": gettext_lazy("connecting"),
    "connected": gettext_lazy("connected"),
    "degraded": gettext_lazy("degraded"),
    "backoff": gettext_lazy("backoff"),
    "failed": gettext_lazy("failed"),
    "disabled": gettext_lazy("disabled"),
}
PROFILE_LABELS = {
    "broker": gettext_lazy("Broker (xiaozhi.me)"),
    "relay": gettext_lazy("Self-hosted relay"),
}


def state_label(state: str | None) -> str:
    return str(STATE_LABELS.get(state or "", state or MISSING))


def state_run_label(state: str | None) -> str:
    return str(STATE_RUN_LABELS.get(state or "", state or MISSING))


def error_class_label(error_class: str | None) -> str:
    return str(ERROR_CLASS_LABELS.get(error_class or "", error_class or MISSING))


def profile_label(profile: str | None, configured: str | None = None) -> str:
    """The peer profile in words; "(detected from the URL)" when configured as auto."""
    label = str(PROFILE_LABELS.get(profile or "", profile or MISSING))
    if configured == "auto":
        return _("%(profile)s (detected from the URL)") % {"profile": label}
    return label


def yes_no(value: bool | None) -> str:
    if value is None:
        return MISSING
    return _("yes") if value else _("no")


def milliseconds(value: float | None) -> str:
    """RTT in words: 43 ms (one decimal below 10 ms), or "—"."""
    if value is None:
        return MISSING
    number = f"{value:.1f}" if value < 10 else f"{value:.0f}"
    return _("%(ms)s ms") % {"ms": number}


def score(value: float | None) -> str:
    if value is None:
        return MISSING
    return _("%(score)s/100") % {"score": f"{value:.0f}"}


def as_datetime(value: datetime | str | None) -> datetime | None:
    if isinstance(value, str):
        return parse_datetime(value)
    return value


def when(value: datetime | str | None) -> str:
    """A moment in the hub's zone (TIME_ZONE), the active language's format, no
    microseconds; "—" when unknown."""
    moment = as_datetime(value)
    if moment is None:
        return MISSING
    return date_filter(timezone.localtime(moment), "DATETIME_FORMAT")


def ago(value: datetime | str | None, *, now: datetime | None = None) -> str:
    """How long ago: "2 minutes ago" (or "in 40 s" for a moment to come); "—" if unknown."""
    moment = as_datetime(value)
    if moment is None:
        return MISSING
    now = now or timezone.now()
    if moment > now:
        return _("in %(time)s") % {"time": duration((moment - now).total_seconds())}
    if (now - moment).total_seconds() < 60:
        return _("just now")
    return _("%(time)s ago") % {"time": timesince(moment, now, depth=2)}


def duration(seconds: float) -> str:
    """A length of time in at most two units: "40 s", "3 h 12 min", "2 d 5 h"."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return _("%(s)s s") % {"s": seconds}
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        if secs:
            return _("%(min)s min %(s)s s") % {"min": minutes, "s": secs}
        return _("%(min)s min") % {"min": minutes}
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        if minutes:
            return _("%(h)s h %(min)s min") % {"h": hours, "min": minutes}
        return _("%(h)s h") % {"h": hours}
    days, hours = divmod(hours, 24)
    if hours:
        return _("%(d)s d %(h)s h") % {"d": days, "h": hours}
    return _("%(d)s d") % {"d": days}


def summary(status: dict, *, updated_at: datetime | None, now: datetime | None = None) -> str:
    """One line: "Connected · health 92/100 · RTT 43 ms · updated 2 minutes ago"
    (a relay no robot has initialized yet: "Connected · waiting for a device · ...")."""
    parts = [state_label(status["state"])]
    if status.get("waitingForDevice"):
        parts.append(_("waiting for a device"))
    if status["connected"]:
        parts.append(_("health %(score)s") % {"score": score(status["healthScore"])})
        parts.append(_("RTT %(rtt)s") % {"rtt": milliseconds(status["rttMs"])})
    elif status["state"] == "backoff" and status["nextReconnectAt"]:
        parts.append(_("next try %(when)s") % {"when": ago(status["nextReconnectAt"], now=now)})
    if updated_at is not None:
        parts.append(_("updated %(when)s") % {"when": ago(updated_at, now=now)})
    return " · ".join(parts)


def moment(value: datetime | str | None, *, now: datetime | None = None) -> str:
    """A moment and how long ago (or until): "Nov. 29, 2026, 5:17 p.m. (2 hours ago)"."""
    if as_datetime(value) is None:
        return MISSING
    return f"{when(value)} ({ago(value, now=now)})"


def error_text(error_class: str | None, error: str | None) -> str:
    """An error with its class, "network: connection refused" (masked once more, so a
    slip never reaches a page); "" for none."""
    if not error:
        return ""
    return f"{error_class_label(error_class)}: {mask_text(error)}"


def status_rows(status: dict, *, updated_at: datetime | None, now: datetime) -> list[dict]:
    """The live status's values in words: [{"label", "value", "flag"}], `flag` True or
    False for a yes/no value (the page shows the admin's icon), else None."""
    ok, total = status["successfulRequests"], status["totalRequests"]
    connected = status["connected"]
    initialized = yes_no(status["initialized"])
    if status.get("waitingForDevice"):
        # A relay forwards initialize only when a device talks: not an error.
        initialized = _("not yet: waiting for a device")
    rows = [
        (_("Peer profile"), profile_label(status.get("peerProfile")), None),
        (_("Connected"), yes_no(connected), connected),
        (_("MCP initialized"), initialized, status["initialized"]),
        (_("Health score"), score(status["healthScore"]) if connected else MISSING, None),
        (_("RTT"), milliseconds(status["rttMs"]), None),
        (_("RTT p95"), milliseconds(status["rttP95Ms"]), None),
        (_("Last connected"), moment(status["lastConnected"], now=now), None),
        (_("Last error"), error_text(status["errorClass"], status["lastError"]) or MISSING, None),
        (_("Reconnect attempts"), str(status["reconnectAttempts"]), None),
        (_("Next reconnect"), moment(status["nextReconnectAt"], now=now), None),
        (_("Consecutive failed pings"), str(status["consecutiveFailures"]), None),
        (_("Requests answered"), _("%(ok)s of %(total)s") % {"ok": ok, "total": total}, None),
        (_("Tool calls answered"), str(status["toolCalls"]), None),
        (_("Worker"), status["worker"] or MISSING, None),
        (_("Last update"), moment(updated_at, now=now), None),
    ]
    return [{"label": label, "value": value, "flag": flag} for label, value, flag in rows]
