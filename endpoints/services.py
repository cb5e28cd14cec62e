"""Writes of the endpoint pool, and the run-time control of the running pool.

Every configuration write ends with `transaction.on_commit` → a `reload`
control message, so the pool (wherever it runs) applies the change within a
second; the workers' periodic reconcile is the safety net for lost messages.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from endpoints import control, selectors
from endpoints.config_file import ConfigFileError, ImportedServer, ParsedConfig
from endpoints.models import (
    Endpoint,
    EndpointEvent,
    EndpointLiveStatus,
    McpServer,
    PoolOptions,
    Tool,
    ToolCall,
)
from endpoints.options import CONNECTION_FIELDS, LOAD_BALANCE
from endpoints.pool.protocol import INTERNAL_ERROR
from endpoints.pool.status import EndpointStatus
from endpoints.upstreams.naming import exposed_name
from endpoints.upstreams.records import CallRecord, ServerStatus, UpstreamTool
from xiaozhi_hub.masking import MASK, mask_text

logger = logging.getLogger(__name__)

ENDPOINT_FIELDS = {
    "name",
    "url",
    "enabled",
    "health_check_enabled",
    "reconnect_on_tools_change",
    *CONNECTION_FIELDS,
}
PROBE_METHODS = ("ping", "roots/list")  # requests an MCP client (the xiaozhi side) answers


# --- notifying the running pool ----------------------------------------------
def _send_now(op: str, **fields: Any) -> None:
    try:
        control.send(op, **fields)
    except Exception as exc:  # the row is saved; the workers' reconcile catches up
        logger.warning("endpoint pool control %s not delivered: %s", op, mask_text(str(exc)))


def pool_notify_changed() -> None:
    """After the current transaction commits, tell the pool to re-read its rows."""
    transaction.on_commit(lambda: _send_now(control.RELOAD))


# --- endpoints ---------------------------------------------------------------
def endpoint_save(*, endpoint: Endpoint) -> Endpoint:
    """Validate and save (create or update) an endpoint; the pool picks it up."""
    endpoint.full_clean()
    endpoint.save()
    pool_notify_changed()
    return endpoint


def endpoint_create(
    *,
    name: str,
    url: str,
    enabled: bool = True,
    health_check_enabled: bool = True,
    options: dict[str, Any] | None = None,
) -> Endpoint:
    endpoint = Endpoint(
        name=name, url=url, enabled=enabled, health_check_enabled=health_check_enabled
    )
    for field, value in (options or {}).items():
        _set_field(endpoint, field, value)
    return endpoint_save(endpoint=endpoint)


def _set_field(endpoint: Endpoint, field: str, value: Any) -> None:
    if field not in ENDPOINT_FIELDS:
        raise ValueError(f"unknown endpoint field {field!r}")
    if field == "reconnect_strategy" and value is None:
        value = ""  # the "use the global value" of a choice override
    setattr(endpoint, field, value)


def endpoint_update(*, endpoint_id: int, data: dict[str, Any]) -> Endpoint:
    """Change some fields (model field names; None clears an option override)."""
    with transaction.atomic():
        endpoint = Endpoint.objects.select_for_update().get(pk=endpoint_id)
        for field, value in data.items():
            _set_field(endpoint, field, value)
        return endpoint_save(endpoint=endpoint)


def endpoint_delete(*, endpoint_id: int) -> None:
    Endpoint.objects.get(pk=endpoint_id).delete()
    pool_notify_changed()


def endpoint_set_enabled(*, endpoint_ids: Iterable[int], enabled: bool) -> int:
    """Enable or disable endpoints; returns how many changed."""
    changed = 0
    with transaction.atomic():
        for endpoint in Endpoint.objects.select_for_update().filter(pk__in=list(endpoint_ids)):
            if endpoint.enabled != enabled:
                endpoint.enabled = enabled
                endpoint.save(update_fields=["enabled", "updated_at"])
                changed += 1
        if changed:
            pool_notify_changed()
    return changed


# --- run-time control ----------------------------------------------------------
def endpoint_reconnect(*, endpoint_id: int) -> None:
    """Drop and redial one endpoint now (also resumes a `failed` one)."""
    Endpoint.objects.get(pk=endpoint_id)
    transaction.on_commit(lambda: _send_now(control.RECONNECT, endpoint_id=endpoint_id))


def endpoint_check_health(*, endpoint_id: int | None = None) -> dict:
    """Ping one endpoint (or all) now and report each round trip.

    {"results": [{"id", "name", "ok", "rttMs", "worker"}], "notConnected": [ids],
     "checkedAt"} - plus "error" when no running pool answered.
    """
    endpoints = Endpoint.objects.filter(enabled=True)
    if endpoint_id is not None:
        endpoint = Endpoint.objects.get(pk=endpoint_id)
        endpoints = [endpoint]
    names = {e.pk: e.name for e in endpoints}
    report: dict[str, Any] = {"results": [], "notConnected": [], "checkedAt": None}
    try:
        replies = control.request(control.CHECK, endpoint_id=endpoint_id)
    except control.PoolUnavailable as exc:
        report["error"] = str(exc)
        report["notConnected"] = sorted(names)
        return report
    seen = set()
    for reply in replies:
        for key, rtt in (reply.get("results") or {}).items():
            pk = int(key)
            seen.add(pk)
            report["results"].append(
                {
                    "id": pk,
                    "name": names.get(pk, ""),
                    "ok": rtt is not None,
                    "rttMs": rtt,
                    "worker": reply["worker"],
                }
            )
    report["results"].sort(key=lambda item: item["id"])
    report["notConnected"] = sorted(pk for pk in names if pk not in seen)
    report["checkedAt"] = timezone.now().isoformat()
    return report


def endpoint_probe(
    *, method: str = "ping", params: dict | None = None, timeout: float | None = None
) -> dict:
    """Send one hub-originated request through the pool's load balancer with failover.

    Returns {"endpoint": {"id", "name"}, "method", "result", "rttMs", "attempts",
    "worker"} or {"error": ...} when no endpoint could answer.
    """
    if method not in PROBE_METHODS:
        raise ValueError(f"method must be one of {', '.join(PROBE_METHODS)}")
    if params is not None and not isinstance(params, dict):
        raise ValueError("params must be an object")
    target = selectors.probe_target_worker() if control.uses_redis() else None
    try:
        replies = control.request(
            control.PROBE, worker=target, method=method, params=params or {}, timeout=timeout
        )
    except control.PoolUnavailable as exc:
        return {"error": str(exc), "method": method}
    answers = [r for r in replies if not r.get("skipped")]
    if not answers:
        return {"error": "no healthy endpoint", "method": method}
    answer = answers[0]
    if "endpointId" not in answer:
        return {"error": answer.get("error") or "no healthy endpoint", "method": method}
    served = Endpoint.objects.filter(pk=answer["endpointId"]).first()
    return {
        "endpoint": {"id": answer["endpointId"], "name": served.name if served else None},
        "method": method,
        "result": answer["result"],
        "rpcError": answer.get("rpcError"),
        "rttMs": answer["rttMs"],
        "attempts": answer["attempts"],
        "worker": answer["worker"],
    }


# --- global options ------------------------------------------------------------
def pool_options_update(*, data: dict[str, Any]) -> PoolOptions:
    """Change global options (model field names); validated, then applied at run time."""
    with transaction.atomic():
        options = PoolOptions.load()
        for field, value in data.items():
            if not hasattr(options, field) or field in ("id", "updated_at"):
                raise ValueError(f"unknown option {field!r}")
            setattr(options, field, value)
        options.full_clean()
        options.save()
        pool_notify_changed()
    return options


def pool_set_load_balance_strategy(*, strategy: str) -> PoolOptions:
    if strategy not in LOAD_BALANCE.choices:
        raise ValueError(f"strategy must be one of {', '.join(LOAD_BALANCE.choices)}")
    return pool_options_update(data={"load_balance_strategy": strategy})


# --- xiaozhi.config.json import ----------------------------------------------------
def config_import(*, parsed: ParsedConfig) -> dict:
    """Apply a parsed xiaozhi.config.json in one transaction: all of it or nothing.

    Endpoints are matched by URL (unchanged), then, when named after their
    token's agent, by name (URL updated: a regenerated token), else created.
    Returns what happened, by name.
    """
    report: dict[str, Any] = {
        "created": [],
        "updated": [],
        "unchanged": [],
        "options": [],
        "servers_created": [],
        "servers_updated": [],
        "servers_unchanged": [],
        "tools": 0,
        "warnings": list(parsed.warnings),
    }
    with transaction.atomic():
        by_masked = {e.masked_url: e for e in Endpoint.objects.all()}
        for path, masked in parsed.masked_endpoints:
            # An export made without secrets: the endpoint is known here, or cannot be made.
            if masked in by_masked:
                report["unchanged"].append(by_masked[masked].name)
            else:
                report["warnings"].append(f"{path}: skipped, its token was masked in the export")
        by_url = {e.url: e for e in Endpoint.objects.all()}
        for entry in parsed.endpoints:
            existing = by_url.get(entry.url)
            if existing is not None:
                report["unchanged"].append(existing.name)
                continue
            named = Endpoint.objects.filter(name=entry.name).first()
            if named is not None and entry.name_from_token:
                named.url = entry.url
                endpoint_save(endpoint=named)
                report["updated"].append(named.name)
                continue
            name, suffix = entry.name, 2
            while Endpoint.objects.filter(name=name).exists():
                name, suffix = f"{entry.name}-{suffix}", suffix + 1
            endpoint_create(name=name, url=entry.url)
            report["created"].append(name)
        if parsed.options:
            current = PoolOptions.load()
            changed = {f: v for f, v in parsed.options.items() if getattr(current, f) != v}
            if changed:
                pool_options_update(data=changed)
                report["options"] = sorted(changed)
        _servers_import(parsed=parsed, report=report)
    return report


def _unmask_map(incoming: dict, stored: dict) -> dict:
    """A masked value ("***", as shown and exported) keeps the stored value of its key."""
    return {k: stored.get(k, v) if v == MASK else v for k, v in incoming.items()}


def _server_import_fields(entry: ImportedServer, existing: McpServer | None, report) -> dict:
    stored_env = existing.env if existing else {}
    stored_headers = existing.headers if existing else {}
    env, headers = _unmask_map(entry.env, stored_env), _unmask_map(entry.headers, stored_headers)
    for label, values in (("env", env), ("headers", headers)):
        for key in [k for k, v in values.items() if v == MASK]:
            report["warnings"].append(f"{entry.path}.{label}.{key}: masked in the export, left out")
            del values[key]
    url = entry.url
    if MASK in url:
        if existing is None or not existing.url:
            raise ConfigFileError(f"{entry.path}.url", "masked in the export; give the real URL")
        url = existing.url  # the same server, exported without secrets
    return {
        "transport": entry.transport,
        "command": entry.command,
        "args": entry.args,
        "env": env,
        "url": url,
        "headers": headers,
    }


def _servers_import(*, parsed: ParsedConfig, report: dict) -> None:
    servers: dict[str, McpServer] = {}
    for entry in parsed.servers:
        existing = McpServer.objects.filter(name=entry.name).first()
        fields = _server_import_fields(entry, existing, report)
        server = existing or McpServer(name=entry.name)
        if existing is not None and all(getattr(server, f) == v for f, v in fields.items()):
            report["servers_unchanged"].append(entry.name)
            servers[entry.name] = server
            continue
        for field, value in fields.items():
            setattr(server, field, value)
        try:
            mcp_server_save(server=server)
        except ValidationError as exc:
            raise _import_error(entry.path, exc) from None
        report["servers_created" if existing is None else "servers_updated"].append(entry.name)
        servers[entry.name] = server
    for setting in parsed.tools:
        server = servers[setting.server]
        tool = Tool.objects.filter(server=server, upstream_name=setting.tool).first()
        if tool is None:
            # Not listed yet (available=False): the switch applies from the first listing.
            tool = Tool(
                server=server,
                upstream_name=setting.tool,
                exposed_name=exposed_name(server.name, setting.tool),
                description=setting.description or "",
            )
        elif setting.description is not None and tool.description:
            if setting.description not in (tool.description, tool.description_override):
                tool.description_override = setting.description
        if setting.enabled is not None:
            tool.enabled = setting.enabled
        tool.save()
        report["tools"] += 1
    if parsed.tools:
        pool_notify_changed()


_IMPORT_KEYS = {"name": "", "transport": "type"}


def _import_error(path: str, exc: ValidationError) -> ConfigFileError:
    if not hasattr(exc, "error_dict"):
        return ConfigFileError(path, " ".join(exc.messages))
    field, messages = next(iter(exc.message_dict.items()))
    key = _IMPORT_KEYS.get(field, field)
    return ConfigFileError(f"{path}.{key}" if key else path, " ".join(messages))


# --- status written by the pool worker -------------------------------------------
def _live_fields(status: EndpointStatus, worker: str) -> dict[str, Any]:
    history = status.to_dict()["reconnectHistory"]
    return {
        "worker": worker,
        "state": status.state,
        "connected": status.connected,
        "initialized": status.initialized,
        "last_connected": status.last_connected,
        "last_error": mask_text(status.last_error or ""),
        "error_class": status.error_class or "",
        "reconnect_attempts": status.reconnect_attempts,
        "next_reconnect_at": status.next_reconnect_at,
        "health_score": status.health_score,
        "rtt_ms": status.rtt_ms,
        "rtt_p95_ms": status.rtt_p95_ms,
        "rtt_history": list(status.rtt_history),
        "consecutive_failures": status.consecutive_failures,
        "total_requests": status.total_requests,
        "successful_requests": status.successful_requests,
        "tool_calls": status.tool_calls,
        "reconnect_history": history,
    }


def endpoint_status_store(
    *,
    worker: str,
    changes: list[tuple[EndpointStatus, str]],
    latest: list[EndpointStatus],
    events_kept: int | None = None,
    now: datetime | None = None,
) -> None:
    """Store a worker's status reports: state changes (with an event) first, then counters.

    Only for endpoints the worker still holds, so a worker that lost a lease
    cannot overwrite its successor's status.
    """
    kept = events_kept or settings.HUB_POOL_EVENTS_KEPT
    now = now or timezone.now()
    ids = {s.endpoint_id for s, _ in changes} | {s.endpoint_id for s in latest}
    owned = set(Endpoint.objects.filter(pk__in=ids, owner=worker).values_list("id", flat=True))
    pruned = set()
    with transaction.atomic():
        for status, previous in changes:
            # An event per change of state; the pool also reports other changes
            # at once (e.g. initialized), which only update the live row.
            if status.endpoint_id not in owned or status.state == previous:
                continue
            EndpointEvent.objects.create(
                endpoint_id=status.endpoint_id,
                at=now,
                state=status.state,
                previous_state=previous,
                error_class=status.error_class or "",
                error=mask_text(status.last_error or ""),
                health_score=status.health_score,
                rtt_ms=status.rtt_ms,
                worker=worker,
            )
            pruned.add(status.endpoint_id)
        newest: dict[int, EndpointStatus] = {}
        for status in [s for s, _ in changes] + latest:
            newest[status.endpoint_id] = status  # later reports win
        for endpoint_id, status in newest.items():
            if endpoint_id not in owned:
                continue
            try:
                with transaction.atomic():
                    EndpointLiveStatus.objects.update_or_create(
                        endpoint_id=endpoint_id, defaults=_live_fields(status, worker)
                    )
            except IntegrityError:  # deleted meanwhile
                continue
        for endpoint_id in pruned:
            _events_prune(endpoint_id=endpoint_id, kept=kept)


def _events_prune(*, endpoint_id: int, kept: int) -> None:
    boundary = (
        EndpointEvent.objects.filter(endpoint_id=endpoint_id)
        .order_by("-id")
        .values_list("id", flat=True)[kept : kept + 1]
    )
    boundary = list(boundary)
    if boundary:
        EndpointEvent.objects.filter(endpoint_id=endpoint_id, id__lte=boundary[0]).delete()


# --- upstream MCP servers ----------------------------------------------------------
# The operator's fields of an MCP server, in the order forms show them.
SERVER_FIELDS = (
    "name",
    "transport",
    "command",
    "args",
    "env",
    "cwd",
    "replicas",
    "url",
    "headers",
    "replica_urls",
    "enabled",
    "call_timeout",
    "load_balance",
)
TOOL_FIELDS = {"enabled", "description_override", "timeout"}


def mcp_server_save(*, server: McpServer) -> McpServer:
    """Validate and save a server; its tools' exposed names follow a rename."""
    server.full_clean()
    with transaction.atomic():
        server.save()
        for tool in server.tools.all():
            name = exposed_name(server.name, tool.upstream_name)
            if tool.exposed_name != name:
                tool.exposed_name = name
                tool.save(update_fields=["exposed_name"])
    pool_notify_changed()
    return server


def mcp_server_create(**fields: Any) -> McpServer:
    server = McpServer()
    for field, value in fields.items():
        _set_server_field(server, field, value)
    return mcp_server_save(server=server)


def _set_server_field(server: McpServer, field: str, value: Any) -> None:
    if field not in SERVER_FIELDS:
        raise ValueError(f"unknown MCP server field {field!r}")
    setattr(server, field, value)


def mcp_server_update(*, server_id: int, data: dict[str, Any]) -> McpServer:
    with transaction.atomic():
        server = McpServer.objects.select_for_update().get(pk=server_id)
        for field, value in data.items():
            _set_server_field(server, field, value)
        return mcp_server_save(server=server)


def mcp_server_delete(*, server_id: int) -> None:
    McpServer.objects.get(pk=server_id).delete()
    pool_notify_changed()


def mcp_server_set_enabled(*, server_ids: Iterable[int], enabled: bool) -> int:
    changed = McpServer.objects.filter(pk__in=list(server_ids)).exclude(enabled=enabled)
    count = changed.update(enabled=enabled, updated_at=timezone.now())
    if count:
        pool_notify_changed()
    return count


def mcp_servers_refresh() -> None:
    """Ask the workers to re-read servers and tools now (the admin's "refresh tools")."""
    pool_notify_changed()


def tool_update(*, tool_id: int, data: dict[str, Any]) -> Tool:
    """Change the operator's settings of one tool (enabled, description_override, timeout)."""
    with transaction.atomic():
        tool = Tool.objects.select_for_update().get(pk=tool_id)
        for field, value in data.items():
            if field not in TOOL_FIELDS:
                raise ValueError(f"unknown tool field {field!r}")
            if field == "description_override" and value is None:
                value = ""
            setattr(tool, field, value)
        tool.full_clean()
        tool.save()
        pool_notify_changed()
    return tool


def tool_set_enabled(*, tool_ids: Iterable[int], enabled: bool) -> int:
    count = (
        Tool.objects.filter(pk__in=list(tool_ids)).exclude(enabled=enabled).update(enabled=enabled)
    )
    if count:
        pool_notify_changed()
    return count


def tool_call(
    *, name: str, arguments: dict | None = None, timeout: float | None = None
) -> dict[str, Any]:
    """Call an aggregated tool through ONE running pool worker, as an endpoint would.

    Returns {"name", "worker", "durationMs", "result"} or {"name", "worker",
    "durationMs", "error": <JSON-RPC error>}; {"name", "error": {"message"},
    "poolRunning": False} when no pool runs. `timeout`, when given, bounds the call
    on the worker (-32002 past it); the tool's own timeout applies as well.
    """
    worker = None
    if control.uses_redis():
        worker = selectors.tool_call_target_worker()
        if worker is None:
            return _no_pool(name, "no endpoint pool worker is running")
    tool = selectors.tool_by_exposed_name(name=name)
    own_timeout = selectors.tool_effective_timeout(tool=tool) if tool else None
    wait = (timeout or own_timeout or settings.HUB_POOL_CONTROL_TIMEOUT) + 5
    try:
        replies = control.request(
            control.CALL_TOOL,
            timeout=wait,
            worker=worker,
            name=name,
            arguments=arguments or {},
            call_timeout=timeout,
        )
    except control.PoolUnavailable as exc:
        return _no_pool(name, str(exc))
    return tool_call_reply(name=name, replies=replies)


def _no_pool(name: str, message: str) -> dict[str, Any]:
    return {"name": name, "error": {"message": message}, "poolRunning": False}


def tool_call_reply(*, name: str, replies: list[dict]) -> dict[str, Any]:
    """The one answer of a CALL_TOOL request (the other workers skipped it)."""
    answers = [r for r in replies if not r.get("skipped")]
    if not answers:
        return _no_pool(name, "the chosen pool worker did not run the call")
    answer = answers[0]
    shaped: dict[str, Any] = {
        "name": name,
        "worker": answer.get("worker"),
        "durationMs": answer.get("durationMs"),
    }
    response = answer.get("response")
    if not isinstance(response, dict):
        message = mask_text(str(answer.get("error") or "the worker sent no response"))
        shaped["error"] = {"code": INTERNAL_ERROR, "message": message}
    elif "error" in response:
        shaped["error"] = response["error"]
    else:
        shaped["result"] = response.get("result")
    return shaped


# --- reports of the upstream runtime (called by the pool worker) -------------------
def tool_catalog_store(*, server_id: int, tools: list[UpstreamTool]) -> None:
    """Upsert the tools a server listed; tools it no longer lists become unavailable.

    Rows are never deleted here (the operator's settings survive), and no
    reload is sent: the worker that calls this already applies the listing.
    """
    server = McpServer.objects.filter(pk=server_id).only("name").first()
    if server is None:
        return  # deleted meanwhile
    listed = {tool.name: tool for tool in tools}
    with transaction.atomic():
        Tool.objects.bulk_create(
            [
                Tool(
                    server_id=server_id,
                    upstream_name=tool.name,
                    exposed_name=exposed_name(server.name, tool.name),
                )
                for tool in tools
            ],
            ignore_conflicts=True,  # existing rows (another worker's store) stay
        )
        changed = []
        for row in Tool.objects.filter(server_id=server_id, upstream_name__in=list(listed)):
            tool = listed[row.upstream_name]
            schema = tool.input_schema or {}
            if (row.description, row.input_schema, row.available) != (
                tool.description or "",
                schema,
                True,
            ):
                row.description, row.input_schema, row.available = (
                    tool.description or "",
                    schema,
                    True,
                )
                changed.append(row)
        Tool.objects.bulk_update(changed, ["description", "input_schema", "available"])
        Tool.objects.filter(server_id=server_id, available=True).exclude(
            upstream_name__in=list(listed)
        ).update(available=False)


def mcp_server_status_store(*, status: ServerStatus) -> None:
    """The runtime's status of one server (masked once more: it reaches HTML and REST)."""
    data = dataclasses.asdict(status)
    data["last_error"] = mask_text(data["last_error"] or "")
    for replica in data["replicas"]:
        replica["last_error"] = mask_text(replica["last_error"] or "")
        replica["label"] = mask_text(replica["label"] or "")
    McpServer.objects.filter(pk=status.server_id).update(
        state=status.state,
        status=data,
        last_error=data["last_error"],
        status_updated_at=timezone.now(),
    )


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


_last_prune = 0.0
PRUNE_INTERVAL = 60.0  # seconds between log prunes in one process


def tool_calls_record(*, records: list[CallRecord]) -> None:
    """Append calls to the log, count them on their tools, and prune the log (1/min)."""
    if not records:
        return
    limit = settings.HUB_TOOL_LOG_MAX_CHARS
    keys = {(r.server_id, r.upstream_tool) for r in records if r.server_id and r.upstream_tool}
    tools = {
        (t.server_id, t.upstream_name): t.pk
        for t in Tool.objects.filter(
            server_id__in={k[0] for k in keys}, upstream_name__in={k[1] for k in keys}
        ).only("id", "server_id", "upstream_name")
    }
    servers = set(
        McpServer.objects.filter(pk__in={r.server_id for r in records}).values_list("id", flat=True)
    )
    endpoints = set(
        Endpoint.objects.filter(pk__in={r.endpoint_id for r in records}).values_list(
            "id", flat=True
        )
    )
    rows = []
    usage: dict[int, list[CallRecord]] = {}
    for record in records:
        tool_id = tools.get((record.server_id, record.upstream_tool))
        if tool_id is not None:
            usage.setdefault(tool_id, []).append(record)
        arguments = json.dumps(record.arguments, ensure_ascii=False, default=str)
        rows.append(
            ToolCall(
                at=record.started_at,
                tool=record.tool[:200],
                tool_ref_id=tool_id,
                server_id=record.server_id if record.server_id in servers else None,
                endpoint_id=record.endpoint_id if record.endpoint_id in endpoints else None,
                duration_ms=record.duration_ms,
                outcome=record.outcome,
                error=_clip(mask_text(record.error or ""), limit),
                arguments=_clip(arguments, limit),
                result=_clip(record.result_text or "", limit),
                replica=record.replica,
                failovers=record.failovers,
            )
        )
    with transaction.atomic():
        ToolCall.objects.bulk_create(rows)
        for tool_id, calls in usage.items():
            fields: dict[str, Any] = {
                "usage_count": F("usage_count") + len(calls),
                "last_used_at": max(c.started_at for c in calls),
            }
            failed = [c for c in calls if c.outcome != "ok"]
            if failed:
                newest = max(failed, key=lambda c: c.started_at)
                fields["last_error"] = _clip(mask_text(newest.error or newest.outcome), limit)
                fields["last_error_at"] = newest.started_at
            Tool.objects.filter(pk=tool_id).update(**fields)
    global _last_prune
    if time.monotonic() - _last_prune >= PRUNE_INTERVAL:
        _last_prune = time.monotonic()
        tool_calls_prune()


def tool_calls_prune(*, now: datetime | None = None) -> int:
    """Drop log rows older than the retention and beyond the row cap; returns how many."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.HUB_TOOL_LOG_RETENTION_DAYS)
    deleted, _ = ToolCall.objects.filter(at__lt=cutoff).delete()
    cap = settings.HUB_TOOL_LOG_MAX_ROWS
    boundary = list(ToolCall.objects.order_by("-id").values_list("id", flat=True)[cap : cap + 1])
    if boundary:
        more, _ = ToolCall.objects.filter(id__lte=boundary[0]).delete()
        deleted += more
    return deleted
