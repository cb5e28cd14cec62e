"""What the console reads from and asks of the endpoint pool and the chat-history hub.

The console's one door into the apps: plain imports, so a renamed selector
or service fails when the console loads, not when a page asks for it. Every
function here is synchronous (it touches the database): async callers wrap it
in `database_sync_to_async`. An unknown device or endpoint is UnknownObject,
whichever app raised it.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from chathistory import selectors as chat_selectors
from chathistory import source_selectors
from chathistory.models import Device
from chathistory.services import sync_request
from endpoints.models import Endpoint
from endpoints.pool_requests.endpoint import endpoint_check_health, endpoint_reconnect
from endpoints.selectors.endpoint import endpoint_status_list
from endpoints.selectors.history import health_overview
from endpoints.selectors.mcp_server import mcp_server_list
from xiaozhi_hub.alerts import selectors as alert_selectors
from xiaozhi_hub.alerts import services as alert_services
from xiaozhi_hub.alerts.models import Alert
from xiaozhi_hub.masking import mask_text, mask_url


class UnknownObject(LookupError):
    """An unknown device, endpoint or alert id (the apps' DoesNotExist); the message says which."""


class NotDone(RuntimeError):
    """A pool request no worker carried out (none running, the endpoint not held, the
    worker's error); the message says why, for the operator."""


# An alert action its state does not allow (acknowledging a closed alert, a bad duration).
ActionRefused = alert_services.AlertActionError


def _masked_endpoint(status: dict[str, Any]) -> dict[str, Any]:
    # The pool masks its URLs already; masking again here keeps a slip out of the browser.
    status = dict(status)
    if isinstance(status.get("url"), str):
        status["url"] = mask_url(status["url"])
    if isinstance(status.get("lastError"), str):
        status["lastError"] = mask_text(status["lastError"])
    return status


# --- endpoint pool (camelCase: its status object is the one of GET /api/status) ------


def endpoint_statuses() -> list[dict[str, Any]]:
    return [_masked_endpoint(row) for row in endpoint_status_list()]


def health_history() -> dict[str, Any]:
    """The cards' heartbeat bars and uptime (endpoints and MCP servers, by id)."""
    return health_overview()


# What the dashboard shows of an MCP server: its state, not its configuration.
_SERVER_KEYS = ("id", "name", "transport", "enabled", "state", "toolCount", "toolsEnabled")


def mcp_server_statuses() -> list[dict[str, Any]]:
    return [
        {
            **{key: server[key] for key in _SERVER_KEYS},
            "target": mask_text(server["target"]),
            "lastError": mask_text(server["lastError"] or ""),
            "statusUpdatedAt": server["statusUpdatedAt"],
        }
        for server in mcp_server_list()
    ]


def reconnect_endpoint(*, endpoint_id: int) -> dict[str, Any]:
    """Redialled by the worker holding it, or NotDone saying why not."""
    try:
        result = endpoint_reconnect(endpoint_id=endpoint_id)
    except Endpoint.DoesNotExist as exc:
        raise UnknownObject(f"unknown endpoint {endpoint_id}") from exc
    if not result["done"]:
        raise NotDone(mask_text(result["error"] or result["reason"] or "not done"))
    return {"endpointId": endpoint_id, "reconnecting": True, "worker": result["worker"]}


def check_endpoint(*, endpoint_id: int | None) -> dict[str, Any]:
    """One endpoint's round trip, or every enabled one's when endpoint_id is None."""
    try:
        report = endpoint_check_health(endpoint_id=endpoint_id)
    except Endpoint.DoesNotExist as exc:
        raise UnknownObject(f"unknown endpoint {endpoint_id}") from exc
    return {"endpointId": endpoint_id, "result": report}


# --- chat history (snake_case: its message, sync and run objects) --------------------


def sync_status() -> dict[str, Any]:
    """The sync's state; `sources` holds one entry per source (the sync page's cards)."""
    status = dict(chat_selectors.sync_status())
    if isinstance(status.get("last_error"), str):
        status["last_error"] = mask_text(status["last_error"])
    status["sources"] = [
        {**entry, "last_error": mask_text(entry.get("last_error") or "")}
        for entry in status.get("sources", [])
    ]
    return status


def sync_runs(*, limit: int = 20) -> list[dict[str, Any]]:
    runs = chat_selectors.sync_runs(limit=limit)
    return [{**run, "error": mask_text(run.get("error") or "")} for run in runs]


def device_detail(*, device: int | str) -> dict[str, Any]:
    """One device by primary key (int) or identifier (str, the older `chat:<mac>`)."""
    return chat_selectors.device_payload(_device(device))


def _device(device: int | str, source: str | None = None) -> Device:
    """A device by pk, or by identifier (within `source` when several sources hold it)."""
    try:
        if isinstance(device, int):
            return chat_selectors.device_get(pk=device)
        return chat_selectors.device_get(mac=device, source=source)
    except chat_selectors.AmbiguousDevice as exc:
        raise UnknownObject(str(exc)) from exc
    except Device.DoesNotExist as exc:
        raise UnknownObject(f"unknown device {device!r}") from exc


def recent_messages(*, device: int | str | None, limit: int | None = None) -> list[dict[str, Any]]:
    """The newest messages of one device (or of all, device=None), oldest first."""
    limit = limit or settings.HUB_CONSOLE_SNAPSHOT_MESSAGES
    found = None if device is None else _device(device)
    return chat_selectors.recent_messages(device=found, limit=limit)


def device_list(
    *, search: str = "", limit: int = 200, source: str | None = None
) -> list[dict[str, Any]]:
    return chat_selectors.device_list(search=search, limit=limit, source=source)


def source_choices() -> list[dict[str, Any]]:
    """The sources, for the pages' source filters: [{key, name}] (no secrets)."""
    return [{"key": s.key, "name": s.name or s.key} for s in source_selectors.source_queryset()]


def session_list(*, device: int | str) -> list[dict[str, Any]]:
    return chat_selectors.session_list(device=_device(device))


def sync_start(
    *, full: bool, device: str | None, session_id: str | None, source: str | None = None
) -> dict[str, Any]:
    try:
        return dict(sync_request(full=full, device=device, session_id=session_id, source=source))
    except Device.DoesNotExist as exc:
        raise UnknownObject(f"unknown device {device!r}") from exc


# --- alerts (snake_case, like the chat family) ----------------------------------------


def alerts_snapshot() -> list[dict[str, Any]]:
    return alert_selectors.alerts_snapshot()


def acknowledge_alert(*, alert_id: int, user) -> dict[str, Any]:
    try:
        alert = alert_services.alert_acknowledge(alert_id=alert_id, user=user)
    except Alert.DoesNotExist as exc:
        raise UnknownObject(f"unknown alert {alert_id}") from exc
    return {"alert": alert_selectors.alert_payload(alert)}


def silence_alert(*, alert_id: int, minutes: Any) -> dict[str, Any]:
    try:
        alert = alert_services.alert_silence(alert_id=alert_id, minutes=minutes)
    except Alert.DoesNotExist as exc:
        raise UnknownObject(f"unknown alert {alert_id}") from exc
    return {"alert": alert_selectors.alert_payload(alert)}
