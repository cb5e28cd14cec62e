"""Reading the existing TypeScript client's `xiaozhi.config.json` (docs/protocols.md).

Parsing checks the whole file before anything is written: an error names
the JSON path of the problem (`mcpEndpoint[2]: not a ws:// or wss:// URL`,
`mcpServers.amap.url: not an http:// or https:// URL`). Besides endpoints and
connection options it reads the upstream MCP servers (`mcpServers`) and the
per-tool switches (`mcpServerConfig.<server>.tools.<tool>.enable`).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.core.exceptions import ValidationError

from endpoints.models.endpoint import validate_endpoint_url
from endpoints.models.mcp_server import validate_upstream_url
from endpoints.options import BY_KEY, OptionError, value_from_json
from endpoints.upstreams.naming import server_name_problem
from xiaozhi_hub.masking import MASK

PLACEHOLDER = "<请填写"


class ConfigFileError(ValueError):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


@dataclass
class ImportedEndpoint:
    name: str
    url: str = field(repr=False)
    path: str = ""
    # Named after the token's agent: an endpoint of that name with another URL
    # is the same endpoint with a regenerated token.
    name_from_token: bool = False


@dataclass
class ImportedServer:
    """One `mcpServers` entry as McpServer fields (env, headers and URL are secrets)."""

    name: str
    transport: str
    command: str = ""
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict, repr=False)
    url: str = field(default="", repr=False)
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    path: str = ""


@dataclass
class ImportedToolSetting:
    """`mcpServerConfig.<server>.tools.<tool>`: enable (and a description) for one tool."""

    server: str
    tool: str
    enabled: bool | None = None
    description: str | None = None
    path: str = ""


@dataclass
class ParsedConfig:
    endpoints: list[ImportedEndpoint] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)  # model field -> value
    servers: list[ImportedServer] = field(default_factory=list)
    tools: list[ImportedToolSetting] = field(default_factory=list)
    # (path, URL) of endpoints exported without secrets: matched by their masked URL.
    masked_endpoints: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _token_claims(url: str) -> dict:
    token = parse_qs(urlsplit(url).query).get("token", [""])[0]
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return {}
    return claims if isinstance(claims, dict) else {}


def _base_name(url: str, index: int) -> tuple[str, bool]:
    agent = _token_claims(url).get("agentId")
    if isinstance(agent, str | int) and not isinstance(agent, bool) and str(agent).strip():
        return f"agent-{str(agent).strip()[:80]}", True
    host = urlsplit(url).hostname or "endpoint"
    return f"{host[:80]}-{index + 1}", False


def parse_config(data: Any) -> ParsedConfig:
    if not isinstance(data, dict):
        raise ConfigFileError("(top level)", "must be a JSON object")
    parsed = ParsedConfig()
    raw = data.get("mcpEndpoint")
    if raw is None:
        parsed.warnings.append("mcpEndpoint: missing, no endpoints to import")
        entries: list[tuple[str, Any]] = []
    elif isinstance(raw, str):
        entries = [("mcpEndpoint", raw)]
    elif isinstance(raw, list):
        entries = [(f"mcpEndpoint[{i}]", value) for i, value in enumerate(raw)]
    else:
        raise ConfigFileError("mcpEndpoint", "must be a string or an array of strings")

    seen_urls: set[str] = set()
    names: set[str] = set()
    for index, (path, value) in enumerate(entries):
        if not isinstance(value, str):
            raise ConfigFileError(path, f"must be a string, got {type(value).__name__}")
        url = value.strip()
        if not url or PLACEHOLDER in url:
            parsed.warnings.append(f"{path}: skipped, it is still the template placeholder")
            continue
        if MASK in url:
            parsed.masked_endpoints.append((path, url))
            continue
        try:
            validate_endpoint_url(url)
        except ValidationError as exc:
            raise ConfigFileError(path, " ".join(exc.messages)) from None
        if url in seen_urls:
            parsed.warnings.append(f"{path}: skipped, the same URL appears earlier")
            continue
        seen_urls.add(url)
        base, from_token = _base_name(url, index)
        name, suffix = base, 2
        while name in names:
            name, suffix = f"{base}-{suffix}", suffix + 1
        names.add(name)
        parsed.endpoints.append(ImportedEndpoint(name, url, path, from_token))

    options = data.get("connectionOptions")
    if options is not None:
        if not isinstance(options, dict):
            raise ConfigFileError("connectionOptions", "must be an object")
        for key, value in options.items():
            spec = BY_KEY.get(key)
            if spec is None:
                parsed.warnings.append(f"connectionOptions.{key}: unknown option, ignored")
                continue
            try:
                parsed.options[spec.field] = value_from_json(spec, value)
            except OptionError as exc:
                raise ConfigFileError(f"connectionOptions.{key}", exc.message) from None
    parsed.servers = _parse_servers(data.get("mcpServers"))
    parsed.tools = _parse_tool_settings(data.get("mcpServerConfig"), parsed)
    return parsed


def infer_transport(url: str) -> str:
    """The TypeScript client's rule: a path ending in /sse is SSE, else streamable HTTP."""
    path = urlsplit(url).path.rstrip("/")
    return "sse" if path.endswith("/sse") else "streamable-http"


def _string_map(value: Any, path: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigFileError(path, "must be an object of names to strings")
    out = {}
    for key, item in value.items():
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            # The value is a secret: say what is wrong, never what it is.
            raise ConfigFileError(f"{path}.{key}", f"must be a string, got {type(item).__name__}")
        out[key] = str(item)
    return out


def _parse_server(name: str, entry: Any, path: str) -> ImportedServer:
    problem = server_name_problem(name)
    if problem:
        raise ConfigFileError(path, problem)
    if not isinstance(entry, dict):
        raise ConfigFileError(path, "must be an object")
    kind = entry.get("type")
    if kind is not None and kind not in ("stdio", "sse", "streamable-http", "http"):
        raise ConfigFileError(
            f"{path}.type", f"must be stdio, sse, streamable-http or http, got {kind!r}"
        )
    if kind == "stdio" or (kind is None and "command" in entry):
        command = entry.get("command")
        if not isinstance(command, str) or not command.strip():
            raise ConfigFileError(f"{path}.command", "must be a non-empty string")
        args = entry.get("args", [])
        if not isinstance(args, list):
            raise ConfigFileError(f"{path}.args", "must be an array of strings")
        for index, arg in enumerate(args):
            if not isinstance(arg, str):
                raise ConfigFileError(f"{path}.args[{index}]", "must be a string")
        return ImportedServer(
            name=name,
            transport="stdio",
            command=command.strip(),
            args=list(args),
            env=_string_map(entry.get("env"), f"{path}.env"),
            path=path,
        )
    url = entry.get("url")
    if not isinstance(url, str) or not url.strip():
        raise ConfigFileError(
            f"{path}.url" if kind else path,
            "must be a non-empty string" if kind else "needs a command (stdio) or a url",
        )
    url = url.strip()
    try:
        validate_upstream_url(url)
    except ValidationError as exc:
        raise ConfigFileError(f"{path}.url", " ".join(exc.messages)) from None
    transport = {"sse": "sse", "streamable-http": "streamable-http", "http": "streamable-http"}
    return ImportedServer(
        name=name,
        transport=transport[kind] if kind else infer_transport(url),
        url=url,
        headers=_string_map(entry.get("headers"), f"{path}.headers"),
        path=path,
    )


def _parse_servers(raw: Any) -> list[ImportedServer]:
    if raw is None:
        return []
    if not isinstance(raw, dict):
        raise ConfigFileError("mcpServers", "must be an object of server names to servers")
    return [_parse_server(name, entry, f"mcpServers.{name}") for name, entry in raw.items()]


def _parse_tool_settings(raw: Any, parsed: ParsedConfig) -> list[ImportedToolSetting]:
    if raw is None:
        return []
    if not isinstance(raw, dict):
        raise ConfigFileError("mcpServerConfig", "must be an object")
    known = {server.name for server in parsed.servers}
    settings: list[ImportedToolSetting] = []
    for server, config in raw.items():
        path = f"mcpServerConfig.{server}"
        if not isinstance(config, dict):
            raise ConfigFileError(path, "must be an object")
        tools = config.get("tools", {})
        if not isinstance(tools, dict):
            raise ConfigFileError(f"{path}.tools", "must be an object of tool names")
        if server not in known:
            if tools:
                parsed.warnings.append(f"{path}: no such server in mcpServers, ignored")
            continue
        for tool, options in tools.items():
            tool_path = f"{path}.tools.{tool}"
            if not isinstance(options, dict):
                raise ConfigFileError(tool_path, "must be an object")
            enabled = options.get("enable")
            if enabled is not None and not isinstance(enabled, bool):
                raise ConfigFileError(f"{tool_path}.enable", "must be true or false")
            description = options.get("description")
            if description is not None and not isinstance(description, str):
                raise ConfigFileError(f"{tool_path}.description", "must be a string")
            if not tool or len(tool) > 200:
                raise ConfigFileError(tool_path, "the tool name must be 1 to 200 characters")
            settings.append(ImportedToolSetting(server, tool, enabled, description, tool_path))
    return settings


def parse_config_file(path: str | Path) -> ParsedConfig:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigFileError("", f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigFileError("", f"{path} is not UTF-8 text") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        # The message never quotes the document, so no URL leaks through it.
        raise ConfigFileError(
            f"line {exc.lineno} column {exc.colno}", f"not valid JSON ({exc.msg})"
        ) from None
    return parse_config(data)
