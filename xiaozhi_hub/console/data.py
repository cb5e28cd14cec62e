"""What the console reads and asks for, through the endpoint-pool and chat-history contracts.

Every function here is synchronous (it touches the database): async callers
wrap it in `database_sync_to_async`. The apps are looked up when called, so a
console built before an app's data side lands says what is missing instead
of failing to import.
"""

from __future__ import annotations

import importlib
from typing import Any

from django.conf import settings

from xiaozhi_hub.masking import mask_text, mask_url


class Unavailable(LookupError):
    """A contract function that is not there (yet): the reason names it."""


class UnknownObject(LookupError):
    """An unknown device or endpoint id (the contract's DoesNotExist)."""


def contract(module: str, name: str):
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise Unavailable(f"{module}.{name} is not available yet") from None


def _does_not_exist(app_model: str) -> type[Exception]:
    from django.apps import apps

    try:
        return apps.get_model(app_model).DoesNotExist
    except LookupError:
        return _Never


class _Never(Exception):
    pass


def _masked_endpoint(status: dict[str, Any]) -> dict[str, Any]:
    # The pool masks its URLs already; masking again here keeps a slip out of the browser.
    status = dict(status)
    if isinstance(status.get("url"), str):
        status["url"] = mask_url(status["url"])
    if isinstance(status.get("lastError"), str):
        status["lastError"] = mask_text(status["lastError"])
    return status


def masked_endpoint_payload(payload: dict[str, Any]) -> dict[str, Any]:
    if isinstance(payload.get("endpoint"), dict):
        return {**payload, "endpoint": _masked_endpoint(payload["endpoint"])}
    return payload


# --- reads ------------------------------------------------------------------------


def endpoints() -> list[dict[str, Any]]:
    rows = contract("endpoints.selectors", "endpoint_status_list")()
    return [_masked_endpoint(row) for row in rows]


def sync_status() -> dict[str, Any]:
    status = dict(contract("chathistory.selectors", "sync_status")())
    if isinstance(status.get("last_error"), str):
        status["last_error"] = mask_text(status["last_error"])
    return status


def sync_runs(*, limit: int = 20) -> list[dict[str, Any]]:
    runs = contract("chathistory.selectors", "sync_runs")(limit=limit)
    return [{**run, "error": mask_text(run.get("error") or "")} for run in runs]


def recent_messages(*, device: str | None, limit: int | None = None) -> list[dict[str, Any]]:
    recent = contract("chathistory.selectors", "recent_messages")
    try:
        return recent(device=device, limit=limit or settings.HUB_CONSOLE_SNAPSHOT_MESSAGES)
    except _does_not_exist("chathistory.Device") as exc:
        raise UnknownObject(f"unknown device {device!r}") from exc


def device_list(*, search: str = "", limit: int = 200) -> list[dict[str, Any]]:
    return contract("chathistory.selectors", "device_list")(search=search, limit=limit)


def session_list(*, device: str) -> list[dict[str, Any]]:
    try:
        return contract("chathistory.selectors", "session_list")(device=device)
    except _does_not_exist("chathistory.Device") as exc:
        raise UnknownObject(f"unknown device {device!r}") from exc


# --- snapshots (the first frame after a subscribe) --------------------------------


def _section(read, **kwargs) -> tuple[Any, str]:
    """(value, "") or (None, why it is missing)."""
    try:
        return read(**kwargs), ""
    except Unavailable as exc:
        return None, str(exc)


def health_snapshot() -> dict[str, Any]:
    rows, missing = _section(endpoints)
    return {"available": not missing, "detail": missing, "endpoints": rows or []}


def sync_snapshot() -> dict[str, Any]:
    status, missing = _section(sync_status)
    runs, runs_missing = _section(sync_runs, limit=10)
    return {
        "available": not missing,
        "detail": missing or runs_missing,
        "status": status,
        "runs": runs or [],
    }


def chat_snapshot(*, device: str | None) -> dict[str, Any]:
    messages, missing = _section(recent_messages, device=device)
    return {
        "available": not missing,
        "detail": missing,
        "device": device,
        "messages": messages or [],
    }


# --- requests ---------------------------------------------------------------------


def sync_start(*, full: bool, device: str | None, session_id: str | None) -> dict[str, Any]:
    request = contract("chathistory.services", "sync_request")
    try:
        return dict(request(full=full, device=device, session_id=session_id) or {})
    except _does_not_exist("chathistory.Device") as exc:
        raise UnknownObject(f"unknown device {device!r}") from exc


def endpoint_reconnect(*, endpoint_id: int) -> dict[str, Any]:
    reconnect = contract("endpoints.services", "endpoint_reconnect")
    try:
        reconnect(endpoint_id=endpoint_id)
    except _does_not_exist("endpoints.Endpoint") as exc:
        raise UnknownObject(f"unknown endpoint {endpoint_id}") from exc
    return {"endpoint_id": endpoint_id, "reconnecting": True}


def endpoint_check(*, endpoint_id: int | None) -> dict[str, Any]:
    check = contract("endpoints.services", "endpoint_check_health")
    try:
        result = check(endpoint_id=endpoint_id)
    except _does_not_exist("endpoints.Endpoint") as exc:
        raise UnknownObject(f"unknown endpoint {endpoint_id}") from exc
    return {"endpoint_id": endpoint_id, "result": result}
