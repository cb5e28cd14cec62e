"""The expiry of an endpoint URL's token (a JWT in the `token` query parameter).

Only read, never verified: the hub does not hold the signing key, it just wants
to stop dialling with a token the relay will refuse anyway.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit


def token_expiry(url: str) -> datetime | None:
    """The JWT `exp` of the URL's `token` query parameter (UTC), or None when there is none."""
    try:
        token = parse_qs(urlsplit(url).query).get("token", [""])[0]
    except ValueError:
        return None
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
        exp = claims["exp"] if isinstance(claims, dict) else None
        if isinstance(exp, bool) or not isinstance(exp, int | float):
            return None
        return datetime.fromtimestamp(exp, tz=UTC)
    except (binascii.Error, ValueError, KeyError, OverflowError, OSError, UnicodeDecodeError):
        return None


def token_expired(url: str, *, now: datetime | None = None) -> bool:
    expiry = token_expiry(url)
    return expiry is not None and expiry <= (now or datetime.now(UTC))
