"""Typed readers for settings that come from the environment.

Every reader names the variable in its error, so a typo in a deployment
fails at start-up with a message the operator can act on, instead of
silently falling back to a default.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

from .masking import mask_url

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def env_str(name: str, default: str | None = None) -> str | None:
    value = _raw(name)
    return default if value is None else value


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name} must be true or false (also 1/0, yes/no, on/off), got {value!r}"
    )


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {number}")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


_RATE = re.compile(r"^[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)$")


def env_rate(name: str, default: str) -> str:
    """A request rate as Django REST framework reads it: a number, '/', a period."""
    value = _raw(name)
    if value is None:
        return default
    if not _RATE.match(value):
        raise ImproperlyConfigured(
            f"{name} must be a number of requests per second, minute, hour or day, "
            f"like 600/min or 10/s, got {value!r}"
        )
    return value


def env_secret(name: str, *, default_file: Path | None = None) -> str | None:
    """A secret from NAME, or from the file named by NAME_FILE (Docker secrets).

    With neither set, `default_file` is read if it exists (laptop mode: the keys
    `make run` keeps in HUB_DATA_DIR). It is never created here.
    """
    value = _raw(name)
    file_name = _raw(f"{name}_FILE")
    if value is not None and file_name is not None:
        raise ImproperlyConfigured(f"set either {name} or {name}_FILE, not both")
    where = f"{name}_FILE points at {file_name!r}"
    if value is None and file_name is None and default_file is not None:
        if default_file.is_file():
            file_name = str(default_file)
            where = f"{name} is read from {file_name!r} (laptop mode)"
    if file_name is None:
        return value
    try:
        content = Path(file_name).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ImproperlyConfigured(f"{where}, which cannot be read: {exc.strerror}") from None
    if not content:
        raise ImproperlyConfigured(f"{where}, which is empty")
    return content


def env_url(name: str, *, schemes: tuple[str, ...]) -> str | None:
    """A URL whose scheme, host and port are checked; the error masks its password."""
    value = _raw(name)
    if value is None:
        return None
    allowed = ", ".join(f"{s}://" for s in schemes)
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"{name} is not a valid URL ({exc}): {mask_url(value)}"
        ) from None
    if parts.scheme not in schemes:
        raise ImproperlyConfigured(f"{name} must start with {allowed}, got {mask_url(value)}")
    if not parts.hostname:
        raise ImproperlyConfigured(f"{name} has no host: {mask_url(value)}")
    return value


_MYSQL_OPTIONS = {
    "charset": "utf8mb4",
    "connect_timeout": 5,
    # Strict mode: a value that does not fit is an error, never silently truncated.
    "init_command": "SET sql_mode='STRICT_TRANS_TABLES'",
}
# One SQLite file, many writers (runhub's threads, a command in another terminal): a
# transaction takes the write lock when it begins, so a second one waits for it (up to
# `timeout` s) instead of failing with "database is locked" when it reads, then writes.
_SQLITE_OPTIONS = {"transaction_mode": "IMMEDIATE", "timeout": 20}


def env_database(name: str, *, default_sqlite: Path | None = None) -> dict | None:
    """A Django DATABASES entry from a URL: mysql://user:pass@host:port/db or sqlite:///path."""
    value = _raw(name)
    if value is None:
        if default_sqlite is None:
            return None
        value = f"sqlite:///{default_sqlite}"
    scheme = value.split("://", 1)[0] if "://" in value else ""
    if scheme not in ("mysql", "sqlite"):
        raise ImproperlyConfigured(
            f"{name} must be mysql://user:password@host:port/database or sqlite:///path, "
            f"got {mask_url(value)}"
        )
    if scheme == "mysql":
        env_url(name, schemes=("mysql",))
    try:
        config = environ.Env.db_url_config(value)
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"{name} is not a valid URL ({exc}): {mask_url(value)}"
        ) from None
    if not config.get("NAME"):
        raise ImproperlyConfigured(f"{name} names no database: {mask_url(value)}")
    if scheme == "mysql":
        config["OPTIONS"] = {**_MYSQL_OPTIONS, **config.get("OPTIONS", {})}
        # The test database too, whatever the server's default charset is.
        config["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
    else:
        config["OPTIONS"] = {**_SQLITE_OPTIONS, **config.get("OPTIONS", {})}
    return config
