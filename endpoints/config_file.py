"""Reading xiaozhi-client's configuration file (xiaozhi.config.json, .json5 or .jsonc).

The file is read as JSON, or else as JSON5 (a superset of JSON and of JSONC's
comments and trailing commas), within the size and nesting limits of every JSON
input; `find_config_file` looks where xiaozhi-client does.
Parsing checks the whole file before anything is written: an error names the
JSON path of the problem (`mcpEndpoint[2]: not a ws:// or wss:// URL`) or the
line and column of a syntax error, never the text around it (it may hold a token).

What the hub cannot use is not dropped silently: every section leaves notes in
the `ImportReport` (mapped to what, ignored and why) that the import completes
with what it wrote. docs/migrating-from-xiaozhi-client.md has the whole mapping.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import json5
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext

from endpoints.custom_tool_shape import custom_tool_fields_from_client
from endpoints.models import Endpoint, Platform
from endpoints.models.endpoint import validate_endpoint_url
from endpoints.models.mcp_server import validate_upstream_url
from endpoints.options import BY_FIELD, BY_KEY, OptionError, value_from_json
from endpoints.upstreams.naming import server_name_problem
from xiaozhi_hub.masking import MASK

PLACEHOLDER = "<请填写"
# Where xiaozhi-client looks (its ConfigResolver): $XIAOZHI_CONFIG_DIR, the current
# directory, ~/.xiaozhi-client; in each, .json5 before .jsonc before .json.
CONFIG_FILE_NAMES = ("xiaozhi.config.json5", "xiaozhi.config.jsonc", "xiaozhi.config.json")
# Hand-written JSON5 is small; the JSON5 parser takes about a minute per megabyte.
MAX_JSON5_BYTES = 128 * 1024
# The hub's own key: what xiaozhi-client has no place for (it ignores unknown keys).
HUB_KEY = "xiaozhiHub"
PEER_PROFILES = tuple(value for value, _ in Endpoint._meta.get_field("peer_profile").choices)
# xiaozhi-client's `connection` (milliseconds) -> the pool option (model field) it maps to.
CONNECTION_KEYS = {
    "heartbeatInterval": "health_check_interval",
    "heartbeatTimeout": "connection_timeout",
    "reconnectInterval": "reconnect_interval",
}
SERVER_KEYS = {"type", "command", "args", "env", "url", "headers", "apiKey"}
MAX_PLATFORM_NAME = Platform._meta.get_field("name").max_length

# Report line kinds, in the order the import prints them within a section.
IMPORTED, MAPPED, IGNORED, WARNING = "imported", "mapped", "ignored", "warning"


def _ignored_reasons() -> dict[str, str]:
    # Sections of xiaozhi-client's file the hub has no use for, and why (read when reporting).
    return {
        "webUI": gettext("the hub has its own web console (runhub serves it)"),
        "toolCallLog": gettext("the hub keeps its own tool call log (manage.py tool_calls)"),
        "tts": gettext("speech settings of xiaozhi-client's own assistant; the hub only serves "
                       "MCP tools"),
        "asr": gettext("speech settings of xiaozhi-client's own assistant; the hub only serves "
                       "MCP tools"),
        "llm": gettext("model settings of xiaozhi-client's own assistant; the hub only serves "
                       "MCP tools"),
        "$schema": gettext("an editor hint"),
    }  # fmt: skip


class ConfigFileError(ValueError):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path
        self.message = message


@dataclass
class ImportReport:
    """What the import did, section by section: [(kind, text)] per top-level key."""

    sections: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)  # the file's top-level keys

    def add(self, section: str, kind: str, text: str) -> None:
        self.sections.setdefault(section, []).append((kind, text))

    def ordered(self) -> list[tuple[str, list[tuple[str, str]]]]:
        """Every section of the file in its order (one it had nothing to say about too)."""
        names = self.order + [name for name in self.sections if name not in self.order]
        nothing = [(IMPORTED, gettext("nothing to change"))]
        return [(name, self.sections.get(name) or nothing) for name in names]

    def lines(self, section: str, kind: str | None = None) -> list[str]:
        return [t for k, t in self.sections.get(section, []) if kind is None or k == kind]


@dataclass
class ImportedEndpoint:
    name: str
    url: str = field(repr=False)
    path: str = ""
    # Named after the token's agent: an endpoint of that name with another URL
    # is the same endpoint with a regenerated token.
    name_from_token: bool = False
    peer_profile: str | None = None  # None: the file does not say


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
class ImportedPlatform:
    """`platforms.<name>`: a platform's token or API key and base URL (secrets)."""

    name: str
    settings: dict = field(repr=False)
    path: str = ""


@dataclass
class ImportedCustomTool:
    """One `customMCP.tools` entry as CustomTool field values (the handler may hold secrets)."""

    name: str
    fields: dict = field(repr=False)
    path: str = ""

    @property
    def section(self) -> str:  # customMCP or customMCPTools
        return self.path.split(".")[0].split("[")[0]


@dataclass
class ParsedConfig:
    endpoints: list[ImportedEndpoint] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)  # model field -> value
    servers: list[ImportedServer] = field(default_factory=list)
    tools: list[ImportedToolSetting] = field(default_factory=list)
    platforms: list[ImportedPlatform] = field(default_factory=list)
    custom_tools: list[ImportedCustomTool] = field(default_factory=list)
    # (path, URL, peer profile) of endpoints exported without secrets: matched by masked URL.
    masked_endpoints: list[tuple[str, str, str | None]] = field(default_factory=list)
    # xiaozhiHub.customTools: the operator's switch of custom tools (name -> enabled).
    custom_tool_switches: dict[str, bool] = field(default_factory=dict)
    report: ImportReport = field(default_factory=ImportReport)


# --- reading the file -------------------------------------------------------------------


def config_search_paths(
    *, cwd: Path | None = None, home: Path | None = None, environ: Mapping[str, str] = os.environ
) -> list[Path]:
    """The files xiaozhi-client would read, in its order; the first that exists is used.

    ~/.xiaozhi/config.json, which some guides name, comes last.
    """
    cwd = Path.cwd() if cwd is None else cwd
    home = Path.home() if home is None else home
    dirs = []
    if environ.get("XIAOZHI_CONFIG_DIR"):
        dirs.append(Path(environ["XIAOZHI_CONFIG_DIR"]))
    dirs += [cwd, home / ".xiaozhi-client"]
    return [d / name for d in dirs for name in CONFIG_FILE_NAMES] + [
        home / ".xiaozhi" / "config.json"
    ]


def find_config_file(**kwargs) -> Path | None:
    return next((p for p in config_search_paths(**kwargs) if p.is_file()), None)


# A JSON5 string (either quote, escapes included) or comment, unrolled so that
# long ones match without backtracking: brackets inside them do not nest.
_NOT_NESTING = re.compile(
    r'"[^"\\]*(?:\\.[^"\\]*)*"'
    r"|'[^'\\]*(?:\\.[^'\\]*)*'"
    r"|//[^\n]*"
    r"|/\*[^*]*\*+(?:[^/*][^*]*\*+)*/",
    re.DOTALL,
)
_BRACKET_DEPTH = re.compile(r"[\[\]{}]")
_JSON5_ERROR = re.compile(r"^<string>:(?P<line>\d+) (?P<what>.*) at column (?P<column>\d+)$")


def _check_depth(text: str, max_depth: int) -> None:
    # The parser recurses once per level: deep input must be refused before it runs.
    depth = deepest = 0
    for match in _BRACKET_DEPTH.finditer(_NOT_NESTING.sub("", text)):
        depth += 1 if match.group() in "[{" else -1
        deepest = max(deepest, depth)
        if deepest > max_depth:
            raise ConfigFileError(
                "", gettext("nested deeper than %(max)s levels") % {"max": max_depth}
            )


def _syntax_error(exc: ValueError) -> ConfigFileError:
    # The parser quotes the offending character; the message keeps only where and what kind.
    match = _JSON5_ERROR.match(str(exc))
    if match is None:
        return ConfigFileError("", gettext("not valid JSON5: the file is empty"))
    reason = (
        gettext("unexpected end of input")
        if match["what"].startswith("Unexpected end")
        else gettext("unexpected character")
    )
    return ConfigFileError(
        gettext("line %(line)s column %(column)s")
        % {"line": match["line"], "column": match["column"]},
        gettext("not valid JSON5 (%(reason)s)") % {"reason": reason},
    )


def _check_values(value: Any, path: str) -> None:
    """Refuse what no column stores: NaN and infinite numbers (JSON5 has them), lone surrogates."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigFileError(path or "(top level)", gettext("not a finite number"))
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ConfigFileError(
                path or "(top level)", gettext("holds a lone surrogate, not Unicode text")
            ) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_values(key, path)
            _check_values(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_values(item, f"{path}[{index}]")


def load_config_text(text: str) -> Any:
    """JSON, JSON5 or JSONC text as data, within HUB_JSON_MAX_DEPTH; ConfigFileError if not.

    Plain JSON goes through the standard parser; the JSON5 parser, pure Python and
    some hundred times slower, reads only the rest, at most MAX_JSON5_BYTES of it.
    """
    _check_depth(text, settings.HUB_JSON_MAX_DEPTH)
    try:
        data = json.loads(text)
    except ValueError:
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > MAX_JSON5_BYTES:
            raise ConfigFileError(
                "",
                gettext("not plain JSON, and larger than the %(max)s bytes read as JSON5")
                % {"max": MAX_JSON5_BYTES},
            ) from None
        try:
            data = json5.loads(text)
        except ValueError as exc:  # its only error, also for numbers over the digit limit
            raise _syntax_error(exc) from None
    _check_values(data, "")
    return data


def parse_config_file(path: str | Path) -> ParsedConfig:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    try:
        with Path(path).open("rb") as handle:
            raw = handle.read(limit + 1)
    except OSError as exc:
        raise ConfigFileError(
            "", gettext("cannot read %(path)s: %(reason)s") % {"path": path, "reason": exc.strerror}
        ) from None
    if len(raw) > limit:
        raise ConfigFileError(
            "", gettext("%(path)s is larger than %(max)s bytes") % {"path": path, "max": limit}
        )
    try:
        text = raw.decode("utf-8-sig")  # editors on Windows write a byte order mark
    except UnicodeDecodeError:
        raise ConfigFileError("", gettext("%(path)s is not UTF-8 text") % {"path": path}) from None
    return parse_config(load_config_text(text))


# --- the sections -----------------------------------------------------------------------


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


def _must_be_object(value: Any, path: str) -> dict:
    if not isinstance(value, dict):
        raise ConfigFileError(path, gettext("must be an object"))
    return value


def parse_config(data: Any) -> ParsedConfig:
    if not isinstance(data, dict):
        raise ConfigFileError("(top level)", gettext("must be a JSON object"))
    parsed = ParsedConfig()
    parsed.report.order = [str(key) for key in data]
    profiles = _parse_hub_section(data.get(HUB_KEY), parsed)
    _parse_endpoints(data.get("mcpEndpoint"), profiles, parsed)
    _parse_connection_options(data.get("connectionOptions"), parsed)
    _parse_connection(data.get("connection"), parsed)
    parsed.servers = _parse_servers(data.get("mcpServers"), parsed.report)
    _apply_modelscope(data.get("modelscope"), parsed)
    parsed.tools = _parse_tool_settings(data.get("mcpServerConfig"), parsed)
    _parse_platforms(data.get("platforms"), parsed)
    _parse_custom_tools(data, parsed)
    known = {
        "mcpEndpoint", "mcpServers", "mcpServerConfig", "connectionOptions", "connection",
        "modelscope", "platforms", "customMCP", "customMCPTools", HUB_KEY,
    }  # fmt: skip
    reasons = _ignored_reasons()
    for key in data:
        if key in known:
            continue
        parsed.report.add(key, IGNORED, reasons.get(key, gettext("not a key the hub knows")))
    return parsed


def _parse_hub_section(raw: Any, parsed: ParsedConfig) -> dict[str, tuple[str, str]]:
    """The hub's own key, which xiaozhi-client ignores: endpoints' peer profiles
    (`endpoints.<URL as in mcpEndpoint>.peerProfile`, returned as {URL: (path, profile)})
    and custom tools switched off (`customTools.<name>.enabled`)."""
    if raw is None:
        return {}
    hub = _must_be_object(raw, HUB_KEY)
    for key in hub:
        if key not in ("endpoints", "customTools"):
            parsed.report.add(
                HUB_KEY,
                IGNORED,
                gettext("%(path)s: not a key the hub knows") % {"path": f"{HUB_KEY}.{key}"},
            )
    profiles: dict[str, tuple[str, str]] = {}
    endpoints = _must_be_object(hub.get("endpoints", {}), f"{HUB_KEY}.endpoints")
    for url, settings_ in endpoints.items():
        path = f"{HUB_KEY}.endpoints[{len(profiles)}]"  # the URL holds a token: not in paths
        profile = _must_be_object(settings_, path).get("peerProfile", "auto")
        if profile not in PEER_PROFILES:
            raise ConfigFileError(
                f"{path}.peerProfile",
                gettext("must be one of %(choices)s") % {"choices": ", ".join(PEER_PROFILES)},
            )
        profiles[url.strip()] = (path, profile)
    tools = _must_be_object(hub.get("customTools", {}), f"{HUB_KEY}.customTools")
    for name, settings_ in tools.items():
        path = f"{HUB_KEY}.customTools.{name}"
        enabled = _must_be_object(settings_, path).get("enabled", True)
        if not isinstance(enabled, bool):
            raise ConfigFileError(f"{path}.enabled", gettext("must be true or false"))
        parsed.custom_tool_switches[name] = enabled
    return profiles


def _parse_endpoints(raw: Any, profiles: dict[str, tuple[str, str]], parsed: ParsedConfig) -> None:
    report = parsed.report
    if raw is None:
        report.add("mcpEndpoint", WARNING, gettext("missing, no endpoints to import"))
        entries: list[tuple[str, Any]] = []
    elif isinstance(raw, str):
        entries = [("mcpEndpoint", raw)]
    elif isinstance(raw, list):
        entries = [(f"mcpEndpoint[{i}]", value) for i, value in enumerate(raw)]
    else:
        raise ConfigFileError("mcpEndpoint", gettext("must be a string or an array of strings"))

    seen_urls: set[str] = set()
    names: set[str] = set()
    for index, (path, value) in enumerate(entries):
        if not isinstance(value, str):
            raise ConfigFileError(
                path, gettext("must be a string, got %(type)s") % {"type": type(value).__name__}
            )
        url = value.strip()
        if not url or PLACEHOLDER in url:
            report.add(
                "mcpEndpoint",
                WARNING,
                gettext("%(path)s: skipped, it is still the template placeholder") % {"path": path},
            )
            continue
        profile = profiles.pop(url, (None, None))[1]
        if MASK in url:
            parsed.masked_endpoints.append((path, url, profile))
            continue
        try:
            validate_endpoint_url(url)
        except ValidationError as exc:
            raise ConfigFileError(path, " ".join(exc.messages)) from None
        if url in seen_urls:
            report.add(
                "mcpEndpoint",
                WARNING,
                gettext("%(path)s: skipped, the same URL appears earlier") % {"path": path},
            )
            continue
        seen_urls.add(url)
        base, from_token = _base_name(url, index)
        name, suffix = base, 2
        while name in names:
            name, suffix = f"{base}-{suffix}", suffix + 1
        names.add(name)
        parsed.endpoints.append(ImportedEndpoint(name, url, path, from_token, profile))
    for path, _ in profiles.values():
        report.add(HUB_KEY, IGNORED, gettext("%(path)s: no such URL in mcpEndpoint")
                   % {"path": path})  # fmt: skip


def _parse_connection_options(raw: Any, parsed: ParsedConfig) -> None:
    """The hub's own `connectionOptions` (its export writes them; the REST API's shape)."""
    if raw is None:
        return
    for key, value in _must_be_object(raw, "connectionOptions").items():
        spec = BY_KEY.get(key)
        if spec is None:
            parsed.report.add(
                "connectionOptions",
                IGNORED,
                gettext("%(path)s: unknown option") % {"path": f"connectionOptions.{key}"},
            )
            continue
        try:
            parsed.options[spec.field] = value_from_json(spec, value)
        except OptionError as exc:
            raise ConfigFileError(f"connectionOptions.{key}", exc.message) from None


def _parse_connection(raw: Any, parsed: ParsedConfig) -> None:
    """xiaozhi-client's `connection` (milliseconds) onto the global pool options (seconds)."""
    if raw is None:
        return
    report = parsed.report
    for key, value in _must_be_object(raw, "connection").items():
        path = f"connection.{key}"
        field_name = CONNECTION_KEYS.get(key)
        if field_name is None:
            report.add("connection", IGNORED, gettext("%(path)s: not a key the hub knows")
                       % {"path": path})  # fmt: skip
            continue
        spec = BY_FIELD[field_name]
        try:
            seconds = value_from_json(spec, value)
        except OptionError as exc:
            raise ConfigFileError(path, exc.message) from None
        if field_name in parsed.options:
            if parsed.options[field_name] == seconds:
                continue  # the hub's export writes both, alike
            report.add(
                "connection",
                IGNORED,
                gettext("%(path)s: connectionOptions.%(option)s is given too and is used")
                % {"path": path, "option": spec.key},
            )
            continue
        parsed.options[field_name] = seconds
        report.add(
            "connection",
            MAPPED,
            gettext("%(key)s %(ms)s ms -> the pool option %(option)s (%(seconds)s s)")
            % {"key": key, "ms": value, "option": spec.key, "seconds": f"{seconds:g}"},
        )


def infer_transport(url: str) -> str:
    """The TypeScript client's rule: a path ending in /sse is SSE, else streamable HTTP."""
    path = urlsplit(url).path.rstrip("/")
    return "sse" if path.endswith("/sse") else "streamable-http"


def is_modelscope_url(url: str) -> bool:
    """xiaozhi-client's test: the host is modelscope.net or modelscope.cn, or under them."""
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return False
    return any(host == d or host.endswith("." + d) for d in ("modelscope.net", "modelscope.cn"))


def _has_authorization(headers: dict[str, str]) -> bool:
    return any(key.lower() == "authorization" for key in headers)


def _string_map(value: Any, path: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigFileError(path, gettext("must be an object of names to strings"))
    out = {}
    for key, item in value.items():
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            # The value is a secret: say what is wrong, never what it is.
            raise ConfigFileError(
                f"{path}.{key}",
                gettext("must be a string, got %(type)s") % {"type": type(item).__name__},
            )
        out[key] = str(item)
    return out


def _parse_server(name: str, entry: Any, path: str, report: ImportReport) -> ImportedServer:
    problem = server_name_problem(name)
    if problem:
        raise ConfigFileError(path, problem)
    entry = _must_be_object(entry, path)
    for key in entry:
        if key not in SERVER_KEYS:
            report.add("mcpServers", IGNORED, gettext("%(path)s: not a key the hub knows")
                       % {"path": f"{path}.{key}"})  # fmt: skip
    kind = entry.get("type")
    if kind is not None and kind not in ("stdio", "sse", "streamable-http", "http"):
        raise ConfigFileError(
            f"{path}.type",
            gettext("must be stdio, sse, streamable-http or http, got %(value)r") % {"value": kind},
        )
    if kind == "stdio" or (kind is None and "command" in entry):
        command = entry.get("command")
        if not isinstance(command, str) or not command.strip():
            raise ConfigFileError(f"{path}.command", gettext("must be a non-empty string"))
        args = entry.get("args", [])
        if not isinstance(args, list):
            raise ConfigFileError(f"{path}.args", gettext("must be an array of strings"))
        for index, arg in enumerate(args):
            if not isinstance(arg, str):
                raise ConfigFileError(f"{path}.args[{index}]", gettext("must be a string"))
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
            gettext("must be a non-empty string")
            if kind
            else gettext("needs a command (stdio) or a url"),
        )
    url = url.strip()
    try:
        validate_upstream_url(url)
    except ValidationError as exc:
        raise ConfigFileError(f"{path}.url", " ".join(exc.messages)) from None
    headers = _string_map(entry.get("headers"), f"{path}.headers")
    api_key = entry.get("apiKey")
    if api_key is not None:
        if not isinstance(api_key, str) or not api_key.strip():
            raise ConfigFileError(f"{path}.apiKey", gettext("must be a non-empty string"))
        if _has_authorization(headers):
            report.add(
                "mcpServers",
                IGNORED,
                gettext("%(path)s.apiKey: the server has an Authorization header, which is used")
                % {"path": path},
            )
        else:
            headers["Authorization"] = f"Bearer {api_key.strip()}"
            report.add(
                "mcpServers",
                MAPPED,
                gettext("%(path)s.apiKey -> its Authorization: Bearer header") % {"path": path},
            )
    transport = {"sse": "sse", "streamable-http": "streamable-http", "http": "streamable-http"}
    return ImportedServer(
        name=name,
        transport=transport[kind] if kind else infer_transport(url),
        url=url,
        headers=headers,
        path=path,
    )


def _parse_servers(raw: Any, report: ImportReport) -> list[ImportedServer]:
    if raw is None:
        return []
    if not isinstance(raw, dict):
        raise ConfigFileError("mcpServers", gettext("must be an object of server names to servers"))
    return [_parse_server(name, entry, f"mcpServers.{name}", report) for name, entry in raw.items()]


def _apply_modelscope(raw: Any, parsed: ParsedConfig) -> None:
    """`modelscope.apiKey` is the bearer token of every ModelScope-hosted server without an
    Authorization header of its own, as xiaozhi-client sends it."""
    report = parsed.report
    hosted = [s for s in parsed.servers if s.url and is_modelscope_url(s.url)]
    without = [s for s in hosted if not _has_authorization(s.headers)]
    api_key = None
    if raw is not None:
        section = _must_be_object(raw, "modelscope")
        for key in section:
            if key != "apiKey":
                report.add("modelscope", IGNORED, gettext("%(path)s: not a key the hub knows")
                           % {"path": f"modelscope.{key}"})  # fmt: skip
        api_key = section.get("apiKey")
        if api_key is not None and (not isinstance(api_key, str) or not api_key.strip()):
            raise ConfigFileError("modelscope.apiKey", gettext("must be a non-empty string"))
    if api_key is None:
        for server in without:
            report.add(
                "modelscope",
                WARNING,
                gettext(
                    "%(path)s is hosted on ModelScope and has no Authorization header: set "
                    "modelscope.apiKey or the server's headers"
                )
                % {"path": server.path},
            )
        return
    if api_key == MASK:
        report.add(
            "modelscope",
            IGNORED,
            gettext("apiKey: masked in the export; the servers keep their stored headers"),
        )
        return
    if not hosted:
        report.add(
            "modelscope",
            IGNORED,
            gettext("apiKey: no server in mcpServers is hosted on ModelScope"),
        )
    for server in hosted:
        if server in without:
            server.headers["Authorization"] = f"Bearer {api_key.strip()}"
            report.add(
                "modelscope",
                MAPPED,
                gettext("apiKey -> the Authorization: Bearer header of %(path)s")
                % {"path": server.path},
            )
        else:
            report.add(
                "modelscope",
                IGNORED,
                gettext("%(path)s has an Authorization header of its own, which is used")
                % {"path": server.path},
            )


def _parse_tool_settings(raw: Any, parsed: ParsedConfig) -> list[ImportedToolSetting]:
    if raw is None:
        return []
    report = parsed.report
    known = {server.name for server in parsed.servers}
    settings_: list[ImportedToolSetting] = []
    for server, config in _must_be_object(raw, "mcpServerConfig").items():
        path = f"mcpServerConfig.{server}"
        config = _must_be_object(config, path)
        tools = config.get("tools", {})
        if not isinstance(tools, dict):
            raise ConfigFileError(f"{path}.tools", gettext("must be an object of tool names"))
        if server not in known:
            if tools:
                report.add(
                    "mcpServerConfig",
                    IGNORED,
                    gettext("%(path)s: no such server in mcpServers") % {"path": path},
                )
            continue
        for tool, options in tools.items():
            tool_path = f"{path}.tools.{tool}"
            options = _must_be_object(options, tool_path)
            enabled = options.get("enable")
            if enabled is not None and not isinstance(enabled, bool):
                raise ConfigFileError(f"{tool_path}.enable", gettext("must be true or false"))
            description = options.get("description")
            if description is not None and not isinstance(description, str):
                raise ConfigFileError(f"{tool_path}.description", gettext("must be a string"))
            if not tool or len(tool) > 200:
                raise ConfigFileError(
                    tool_path, gettext("the tool name must be 1 to 200 characters")
                )
            settings_.append(ImportedToolSetting(server, tool, enabled, description, tool_path))
    return settings_


def _parse_platforms(raw: Any, parsed: ParsedConfig) -> None:
    if raw is None:
        return
    for name, value in _must_be_object(raw, "platforms").items():
        path = f"platforms.{name}"
        if not name or len(name) > MAX_PLATFORM_NAME:
            raise ConfigFileError(
                path,
                gettext("a platform name holds 1 to %(max)s characters")
                % {"max": MAX_PLATFORM_NAME},
            )
        parsed.platforms.append(ImportedPlatform(name, dict(_must_be_object(value, path)), path))


def _parse_custom_tools(data: dict, parsed: ParsedConfig) -> None:
    """xiaozhi-client's `customMCP.tools` (and `customMCPTools`, a bare list of the same)."""
    entries: list[tuple[str, Any]] = []
    custom = data.get("customMCP")
    if custom is not None:
        custom = _must_be_object(custom, "customMCP")
        for key in custom:
            if key != "tools":
                parsed.report.add(
                    "customMCP",
                    IGNORED,
                    gettext("%(path)s: not a key the hub knows") % {"path": f"customMCP.{key}"},
                )
        tools = custom.get("tools", [])
        if not isinstance(tools, list):
            raise ConfigFileError("customMCP.tools", gettext("must be an array of tools"))
        entries += [(f"customMCP.tools[{i}]", entry) for i, entry in enumerate(tools)]
    bare = data.get("customMCPTools")
    if bare is not None:
        if not isinstance(bare, list):
            raise ConfigFileError("customMCPTools", gettext("must be an array of tools"))
        entries += [(f"customMCPTools[{i}]", entry) for i, entry in enumerate(bare)]
    seen: dict[str, str] = {}
    for path, entry in entries:
        try:
            fields = custom_tool_fields_from_client(entry)
        except ValueError as exc:
            # "handler.url: problem" from the shape module: one JSON path, when it is one.
            key, sep, problem = str(exc).partition(": ")
            if sep and re.fullmatch(r"[\w.\[\]$-]+", key):
                raise ConfigFileError(f"{path}.{key}", problem) from None
            raise ConfigFileError(path, str(exc)) from None
        name = fields["name"]
        if name in seen:
            raise ConfigFileError(
                f"{path}.name",
                gettext("%(name)s is defined earlier, at %(other)s")
                % {"name": name, "other": seen[name]},
            )
        seen[name] = path
        tool = ImportedCustomTool(name, fields, path)
        if isinstance(entry, dict) and "stats" in entry:
            parsed.report.add(
                tool.section,
                IGNORED,
                gettext("%(path)s.stats: the hub counts the tool's calls itself") % {"path": path},
            )
        parsed.custom_tools.append(tool)
    for name in parsed.custom_tool_switches.keys() - seen.keys():
        parsed.report.add(
            HUB_KEY,
            IGNORED,
            gettext("%(path)s: no such custom tool in the file")
            % {"path": f"{HUB_KEY}.customTools.{name}"},
        )
