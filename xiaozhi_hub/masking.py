"""Masking of secrets before they reach logs, API responses, HTML or errors."""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit, urlunsplit

MASK = "***"

# scheme://user:password@host  ->  scheme://user:***@host
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)[^@\s/]+(?=@)")
# token=..., access_token=..., password=... in query strings and log lines
_SECRET_PARAM = re.compile(r"(?i)\b(?P<key>token|access_token|secret|password|key)=[^&\s'\"]+")


def mask_url(url: str) -> str:
    """A URL with its password and secret query values replaced, safe to show."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return mask_text(url)
    if parts.password is None:
        return mask_text(url)
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"{user}:{MASK}@{host}" + (f":{port}" if port else "")
    return mask_text(urlunsplit(parts._replace(netloc=netloc)))


def mask_text(text: str) -> str:
    """Free text (an exception message, a log line) with URL passwords and tokens masked."""
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    return _SECRET_PARAM.sub(lambda m: f"{m.group('key')}={MASK}", text)


class MaskSecretsFilter(logging.Filter):
    """Logging filter (installed on every handler by settings.LOGGING)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True
