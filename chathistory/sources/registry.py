"""Where each mysql source's rows are read: a Django database alias per Source row.

The source made from ESP32_DATABASE_URL reads the settings' `esp32` alias. Every
other mysql source gets an alias `source-<key>` registered at run time from its
(decrypted) URL, configured as settings.py configures `esp32`: utf8mb4, strict
mode, a connect timeout, and a READ ONLY session, so the hub can never write there.
A changed URL re-registers the alias (the old connection of this thread is closed).
"""

from __future__ import annotations

import hashlib
import threading
from urllib.parse import urlsplit

import environ
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connections
from django.utils.translation import gettext_lazy as _

from xiaozhi_hub.masking import mask_url
from xiaozhi_hub.validators import validate_url

from ..models import Source, SourceKind

ALIAS_PREFIX = "source-"

# As xiaozhi_hub/env.py configures a mysql:// URL, plus the read-only session.
_MYSQL_OPTIONS = {
    "charset": "utf8mb4",
    "connect_timeout": 5,
    "init_command": "SET sql_mode='STRICT_TRANS_TABLES'; SET SESSION TRANSACTION READ ONLY",
}

_lock = threading.Lock()
_registered: dict[str, str] = {}  # alias -> digest of the URL it was registered with


class SourceNotConfigured(RuntimeError):
    """The source has no connection the hub can use (no URL, no ESP32_DATABASE_URL)."""


def environment_configured() -> bool:
    """Whether ESP32_DATABASE_URL is set (the settings' `esp32` alias exists)."""
    return settings.SOURCE_DATABASE_ALIAS in settings.DATABASES


def validate_source_url(*, kind: str, url: str) -> None:
    """ValidationError (masked) unless `url` suits `kind`: mysql://user:pw@host/db for a
    mysql source, http(s)://host/... for manager-api."""
    if kind == SourceKind.MYSQL:
        validate_url(url, schemes=("mysql",), kind=_("a mysql://"), mask=mask_url)
        if not urlsplit(url).path.strip("/"):
            raise ValidationError(
                _("the URL names no database: %(url)s"),
                code="database",
                params={"url": mask_url(url)},
            )
        try:
            environ.Env.db_url_config(url)
        except ValueError:
            raise ValidationError(
                _("not a valid URL: %(url)s"), code="invalid", params={"url": mask_url(url)}
            ) from None
    elif kind == SourceKind.MANAGER_API:
        validate_url(url, schemes=("http", "https"), kind=_("an http(s)://"), mask=mask_url)
    else:
        raise ValidationError(_("unknown source kind %(kind)r"), code="kind", params={"kind": kind})


def database_settings(url: str) -> dict:
    """The DATABASES entry of a mysql:// URL (read-only session)."""
    config = environ.Env.db_url_config(url)
    config["OPTIONS"] = {**config.get("OPTIONS", {}), **_MYSQL_OPTIONS}
    return connections.configure_settings({"default": {}, "x": config})["x"]


def alias_name(key: str) -> str:
    return f"{ALIAS_PREFIX}{key}"


def source_alias(source: Source) -> str:
    """The alias the source's rows are read through; SourceNotConfigured if it has none."""
    if source.kind != SourceKind.MYSQL:
        raise SourceNotConfigured(f"source {source.key!r} is not a mysql source")
    if source.from_environment:
        if not environment_configured():
            raise SourceNotConfigured("ESP32_DATABASE_URL is not set")
        return settings.SOURCE_DATABASE_ALIAS
    if not source.url:
        raise SourceNotConfigured(f"source {source.key!r} has no URL")
    alias = alias_name(source.key)
    digest = hashlib.sha256(source.url.encode()).hexdigest()
    with _lock:
        if _registered.get(alias) != digest or alias not in connections.settings:
            try:
                validate_source_url(kind=source.kind, url=source.url)
            except ValidationError as exc:
                raise SourceNotConfigured(f"source {source.key!r}: {exc.messages[0]}") from None
            forget_alias(source.key)
            connections.settings[alias] = database_settings(source.url)
            _registered[alias] = digest
    return alias


def forget_alias(key: str) -> None:
    """Drop the alias of source `key` (its URL changed, or it was removed)."""
    alias = alias_name(key)
    if alias in connections.settings:
        try:
            connections[alias].close()
            del connections[alias]
        finally:
            del connections.settings[alias]
    _registered.pop(alias, None)


def source_configured(source: Source) -> bool:
    """Whether the source can be read now (no connection is opened)."""
    if source.kind == SourceKind.MYSQL and source.from_environment:
        return environment_configured()
    return bool(source.url)
