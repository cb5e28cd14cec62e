"""Applying a parsed xiaozhi-client configuration (endpoints/config_file.py): endpoints
and their peer profiles, pool options, MCP servers and tool switches, platforms and
custom tools, in one transaction. What was written is added to the parser's report."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext

from endpoints.config_file import (
    HUB_KEY,
    IMPORTED,
    WARNING,
    ConfigFileError,
    ImportedServer,
    ImportReport,
    ParsedConfig,
)
from endpoints.custom_tool_shape import unmask_handler, unmask_platform_settings
from endpoints.mcp_server_secrets import unmask_mapping
from endpoints.models import CustomTool, Endpoint, McpServer, Platform, PoolOptions, Tool
from endpoints.options import BY_FIELD
from endpoints.pool_requests.reload import pool_notify_changed
from endpoints.selectors.endpoint import endpoint_find_by_url
from endpoints.services.custom_tool import custom_tool_save, platform_save
from endpoints.services.endpoint import endpoint_save, pool_options_update
from endpoints.services.mcp_server import mcp_server_save
from endpoints.upstreams.naming import exposed_name
from xiaozhi_hub.masking import MASK


def _outcomes(report: ImportReport, section: str, what: dict[str, list[str]]) -> None:
    labels = {
        "created": gettext("created %(count)s: %(names)s"),
        "updated": gettext("updated %(count)s: %(names)s"),
        "unchanged": gettext("unchanged %(count)s: %(names)s"),
    }
    for key, names in what.items():
        if names:
            report.add(section, IMPORTED, labels[key] % {"count": len(names),
                                                         "names": ", ".join(names)})  # fmt: skip


def config_import(*, parsed: ParsedConfig) -> ImportReport:
    """Apply a parsed configuration in one transaction: all of it or nothing.

    Endpoints are matched by URL (unchanged), then, when named after their
    token's agent, by name (URL updated: a regenerated token), else created.
    Servers, platforms and custom tools are matched by name. A "***" (a masked
    export) keeps the stored secret. Returns the report, completed.
    """
    report = parsed.report
    with transaction.atomic():
        _endpoints_import(parsed=parsed, report=report)
        if parsed.options:
            current = PoolOptions.load()
            changed = {f: v for f, v in parsed.options.items() if getattr(current, f) != v}
            if changed:
                pool_options_update(data=changed)
                keys = ", ".join(BY_FIELD[f].key for f in sorted(changed))
                section = "connectionOptions" if "connectionOptions" in report.order else (
                    "connection")  # fmt: skip
                report.add(section, IMPORTED, gettext("connection options updated: %(keys)s")
                           % {"keys": keys})  # fmt: skip
        _servers_import(parsed=parsed, report=report)
        _platforms_import(parsed=parsed, report=report)
        _custom_tools_import(parsed=parsed, report=report)
    return report


def _endpoints_import(*, parsed: ParsedConfig, report: ImportReport) -> None:
    done: dict[str, list[str]] = {"created": [], "updated": [], "unchanged": []}
    by_masked = {e.masked_url: e for e in Endpoint.objects.all()}
    for path, masked, profile in parsed.masked_endpoints:
        # An export made without secrets: the endpoint is known here, or cannot be made.
        endpoint = by_masked.get(masked)
        if endpoint is None:
            report.add(
                "mcpEndpoint",
                WARNING,
                gettext("%(path)s: skipped, its token was masked in the export") % {"path": path},
            )
        elif profile is not None and endpoint.peer_profile != profile:
            endpoint.peer_profile = profile
            endpoint_save(endpoint=endpoint)
            done["updated"].append(endpoint.name)
        else:
            done["unchanged"].append(endpoint.name)
    for entry in parsed.endpoints:
        existing = endpoint_find_by_url(url=entry.url)
        if existing is None and entry.name_from_token:
            existing = Endpoint.objects.filter(name=entry.name).first()
        if existing is not None:
            changed = existing.url != entry.url  # a regenerated token
            existing.url = entry.url
            if entry.peer_profile is not None and existing.peer_profile != entry.peer_profile:
                existing.peer_profile, changed = entry.peer_profile, True
            if changed:
                endpoint_save(endpoint=existing)
            done["updated" if changed else "unchanged"].append(existing.name)
            continue
        name, suffix = entry.name, 2
        while Endpoint.objects.filter(name=name).exists():
            name, suffix = f"{entry.name}-{suffix}", suffix + 1
        endpoint_save(
            endpoint=Endpoint(name=name, url=entry.url, peer_profile=entry.peer_profile or "auto")
        )
        done["created"].append(name)
    _outcomes(report, "mcpEndpoint", done)
    profiled = [e for e in parsed.endpoints if e.peer_profile not in (None, "auto")]
    if profiled:
        report.add(HUB_KEY, IMPORTED, gettext("peer profiles of %(count)s endpoint(s)")
                   % {"count": len(profiled)})  # fmt: skip


def _drop_masked(report: ImportReport, section: str, path: str, values: dict) -> None:
    """Values still "***" (a masked export into a hub without them): left out, and said."""
    for key in [k for k, v in values.items() if v == MASK]:
        report.add(
            section,
            WARNING,
            gettext("%(path)s: masked in the export, left out") % {"path": f"{path}.{key}"},
        )
        del values[key]


def _server_import_fields(entry: ImportedServer, existing: McpServer | None, report) -> dict:
    stored_env = existing.env if existing else {}
    stored_headers = existing.headers if existing else {}
    env, headers = (
        unmask_mapping(entry.env, stored_env),
        unmask_mapping(entry.headers, stored_headers),
    )
    _drop_masked(report, "mcpServers", f"{entry.path}.env", env)
    _drop_masked(report, "mcpServers", f"{entry.path}.headers", headers)
    url = entry.url
    if MASK in url:
        if existing is None or not existing.url:
            raise ConfigFileError(
                f"{entry.path}.url", gettext("masked in the export; give the real URL")
            )
        url = existing.url  # the same server, exported without secrets
    return {
        "transport": entry.transport,
        "command": entry.command,
        "args": entry.args,
        "env": env,
        "url": url,
        "headers": headers,
    }


def _servers_import(*, parsed: ParsedConfig, report: ImportReport) -> None:
    done: dict[str, list[str]] = {"created": [], "updated": [], "unchanged": []}
    servers: dict[str, McpServer] = {}
    for entry in parsed.servers:
        existing = McpServer.objects.filter(name=entry.name).first()
        fields = _server_import_fields(entry, existing, report)
        server = existing or McpServer(name=entry.name)
        servers[entry.name] = server
        if existing is not None and all(getattr(server, f) == v for f, v in fields.items()):
            done["unchanged"].append(entry.name)
            continue
        for name, value in fields.items():
            setattr(server, name, value)
        try:
            mcp_server_save(server=server)
        except ValidationError as exc:
            raise _import_error(entry.path, exc) from None
        done["created" if existing is None else "updated"].append(entry.name)
    _outcomes(report, "mcpServers", done)
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
    if parsed.tools:
        report.add("mcpServerConfig", IMPORTED, gettext("tool settings applied: %(count)s")
                   % {"count": len(parsed.tools)})  # fmt: skip
        pool_notify_changed()


def _platforms_import(*, parsed: ParsedConfig, report: ImportReport) -> None:
    done: dict[str, list[str]] = {"created": [], "updated": [], "unchanged": []}
    for entry in parsed.platforms:
        platform = Platform.objects.filter(name=entry.name).first()
        settings = unmask_platform_settings(entry.settings, platform.settings if platform else {})
        _drop_masked(report, "platforms", entry.path, settings)
        if platform is not None and platform.settings == settings:
            done["unchanged"].append(entry.name)
            continue
        done["created" if platform is None else "updated"].append(entry.name)
        platform = platform or Platform(name=entry.name)
        platform.settings = settings
        try:
            platform_save(platform=platform)
        except ValidationError as exc:
            raise _import_error(entry.path, exc) from None
    _outcomes(report, "platforms", done)


def _holds_mask(value) -> bool:
    if isinstance(value, str):
        return MASK in value
    if isinstance(value, dict):
        return any(_holds_mask(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_mask(v) for v in value)
    return False


def _custom_tools_import(*, parsed: ParsedConfig, report: ImportReport) -> None:
    done: dict[str, dict[str, list[str]]] = {}
    for entry in parsed.custom_tools:
        outcome = done.setdefault(entry.section, {"created": [], "updated": [], "unchanged": []})
        tool = CustomTool.objects.filter(name=entry.name).first()
        fields = dict(entry.fields)
        if tool is not None:
            fields["handler"] = unmask_handler(fields["handler"], tool.handler)
        if _holds_mask(fields["handler"]):
            report.add(
                entry.section,
                WARNING,
                gettext("%(path)s: skipped, its secrets were masked in the export")
                % {"path": entry.path},
            )
            continue
        if fields["kind"] == "function":
            report.add(
                entry.section,
                WARNING,
                gettext("%(path)s: imported disabled: %(reason)s")
                % {"path": entry.path, "reason": fields["disabled_reason"]},
            )
        switch = parsed.custom_tool_switches.get(entry.name)
        if fields["kind"] != "function" and switch is not None:
            fields["enabled"] = switch
        elif tool is not None and fields["kind"] != "function" and not tool.enabled:
            # A file that does not say (xiaozhi-client's) keeps the operator's switch.
            fields["enabled"], fields["disabled_reason"] = False, tool.disabled_reason
        if tool is not None:
            if all(getattr(tool, f) == v for f, v in fields.items()):
                outcome["unchanged"].append(entry.name)
                continue
        outcome["created" if tool is None else "updated"].append(entry.name)
        tool = tool or CustomTool()
        for name, value in fields.items():
            setattr(tool, name, value)
        try:
            custom_tool_save(tool=tool)  # checks the inputSchema too
        except ValidationError as exc:
            raise _import_error(entry.path, exc) from None
    for section, outcome in done.items():
        _outcomes(report, section, outcome)


_IMPORT_KEYS = {"name": "", "transport": "type", "input_schema": "inputSchema"}


def _import_error(path: str, exc: ValidationError) -> ConfigFileError:
    if not hasattr(exc, "error_dict"):
        return ConfigFileError(path, " ".join(exc.messages))
    field, messages = next(iter(exc.message_dict.items()))
    key = _IMPORT_KEYS.get(field, field)
    return ConfigFileError(f"{path}.{key}" if key else path, " ".join(messages))
