"""Applying a parsed xiaozhi.config.json (endpoints/config_file.py): endpoints, connection
options, MCP servers and tool switches, in one transaction."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from endpoints.config_file import ConfigFileError, ImportedServer, ParsedConfig
from endpoints.mcp_server_secrets import unmask_mapping
from endpoints.models import Endpoint, McpServer, PoolOptions, Tool
from endpoints.pool_requests.reload import pool_notify_changed
from endpoints.selectors.endpoint import endpoint_find_by_url
from endpoints.services.endpoint import endpoint_create, endpoint_save, pool_options_update
from endpoints.services.mcp_server import mcp_server_save
from endpoints.upstreams.naming import exposed_name
from xiaozhi_hub.masking import MASK


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
        for entry in parsed.endpoints:
            existing = endpoint_find_by_url(url=entry.url)
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


def _server_import_fields(entry: ImportedServer, existing: McpServer | None, report) -> dict:
    stored_env = existing.env if existing else {}
    stored_headers = existing.headers if existing else {}
    env, headers = (
        unmask_mapping(entry.env, stored_env),
        unmask_mapping(entry.headers, stored_headers),
    )
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
