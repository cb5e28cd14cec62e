"""Reading the existing TypeScript client's `xiaozhi.config.json` (REFERENCE.md §1).

Parsing checks the whole file before anything is written: an error names
the JSON path of the problem (`mcpEndpoint[2]: not a ws:// or wss:// URL`).
`mcpServers` belongs to the upstream-tools feature and is left alone here.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.core.exceptions import ValidationError

from endpoints.models import validate_endpoint_url
from endpoints.options import BY_KEY, OptionError, value_from_json

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
class ParsedConfig:
    endpoints: list[ImportedEndpoint] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)  # model field -> value
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
    if "mcpServers" in data:
        parsed.warnings.append(
            "mcpServers: not imported by this command (MCP servers are configured separately)"
        )
    return parsed


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
