"""Secrets at rest: the Fernet keyring, and keyed digests to look a secret up.

Keys come from HUB_ENCRYPTION_KEY (comma-separated, newest first) or the file
named by HUB_ENCRYPTION_KEY_FILE (one key per line, newest first). The first
key encrypts; every key decrypts, so a new key is put in front while rows
encrypted with the old ones still read, and `manage.py rotate_encryption_key`
re-encrypts them before the old key is dropped. Without a key, one derived
from SECRET_KEY encrypts, with a warning: changing SECRET_KEY (without keeping
the old one in SECRET_KEY_FALLBACKS) would make every stored secret
unreadable. The keys derived from SECRET_KEY and its fallbacks always stay in
the ring to decrypt, so setting HUB_ENCRYPTION_KEY later and running the
rotation command moves the rows to it.

Digests: a Fernet token differs on every encryption, so the database cannot
find a row by its encrypted value. A digest column holds HMAC-SHA256 of the
value under a key derived from the newest encryption key (never the key
itself). A lookup tries the digest under every key of the ring, so a row
digested before a rotation is still found; the rotation command recomputes
the digests under the newest key. The digest reveals only whether two rows
hold the same value.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

from .env import env_secret

KEY_VARIABLE = "HUB_ENCRYPTION_KEY"
GENERATE_KEY = (
    "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
)

logger = logging.getLogger(__name__)


class DecryptionError(Exception):
    """A stored secret that no key of the ring opens (its message holds no secret)."""


def encryption_keys_from_env(
    name: str = KEY_VARIABLE, *, default_file: Path | None = None
) -> list[str]:
    """The Fernet keys in NAME (comma-separated) or NAME_FILE (one a line), newest first.

    With neither set, those in `default_file` if it exists (laptop mode). A malformed
    key refuses to start, naming where it came from and its position, never the key.
    """
    raw = env_secret(name, default_file=default_file)
    if raw is None:
        return []
    if os.environ.get(f"{name}_FILE", "").strip():
        source = f"{name}_FILE"
    elif os.environ.get(name, "").strip():
        source = name
    else:
        source = str(default_file)
    keys = [key for key in re.split(r"[,\s]+", raw) if key]
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ImproperlyConfigured(
                f"{source}: key {position} of {len(keys)} is not a Fernet key "
                f"(32 url-safe base64-encoded bytes); make one with: {GENERATE_KEY}"
            ) from None
    return keys


def _derive(material: bytes, purpose: bytes) -> bytes:
    """32 bytes for one purpose, from a secret that must not be used directly."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(material)


def key_from_secret_key(secret_key: str) -> bytes:
    """The fallback Fernet key: derived from SECRET_KEY, so it changes with it."""
    material = _derive(secret_key.encode(), b"xiaozhi-hub secrets at rest")
    return base64.urlsafe_b64encode(material)


def _normalise(value: str) -> bytes:
    return value.strip().encode()


class Keyring:
    """Encrypts with the newest key, decrypts with any; digests under each key."""

    def __init__(self, keys: Sequence[bytes], *, derived: bool) -> None:
        if not keys:
            raise ValueError("a keyring needs at least one key")
        self.derived = derived
        self._newest = Fernet(keys[0])
        self._all = MultiFernet([Fernet(key) for key in keys])
        self._digest_keys = [
            _derive(base64.urlsafe_b64decode(key), b"xiaozhi-hub lookup digest") for key in keys
        ]

    def encrypt(self, text: str) -> str:
        return self._all.encrypt(text.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._all.decrypt(token.encode()).decode()
        except InvalidToken:
            raise DecryptionError(
                f"a stored secret cannot be decrypted with any key in {KEY_VARIABLE}: it was "
                "encrypted with a key no longer (or not yet) in the list; put that key back "
                "and run `manage.py rotate_encryption_key` before dropping it"
            ) from None

    def is_current(self, token: str) -> bool:
        """Whether the newest key encrypted this token (then rotating it changes nothing)."""
        try:
            self._newest.decrypt(token.encode())
        except InvalidToken:
            return False
        return True

    def rotate(self, token: str) -> str:
        """The same secret encrypted with the newest key."""
        self.decrypt(token)  # a clear error for a token no key opens
        return self._all.rotate(token.encode()).decode()

    def digest(self, value: str) -> str:
        """The digest to store for `value` (under the newest key)."""
        return hmac.new(self._digest_keys[0], _normalise(value), hashlib.sha256).hexdigest()

    def digests(self, value: str) -> list[str]:
        """Every digest a stored row of `value` may carry (one per key): filter with __in."""
        text = _normalise(value)
        return [hmac.new(key, text, hashlib.sha256).hexdigest() for key in self._digest_keys]


@functools.cache
def keyring() -> Keyring:
    """HUB_ENCRYPTION_KEYS, then the keys derived from SECRET_KEY and its fallbacks.

    The derived keys stay in the ring to decrypt only (when a key is configured):
    rows written before HUB_ENCRYPTION_KEY was set still read, and the rotation
    command moves them to the configured key. Without a configured key the one
    derived from SECRET_KEY encrypts, and a warning is logged once.
    """
    configured = [key.encode() for key in getattr(settings, "HUB_ENCRYPTION_KEYS", None) or []]
    secret_keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    derived = [key_from_secret_key(secret_key) for secret_key in secret_keys]
    if configured:
        return Keyring([*configured, *derived], derived=False)
    logger.warning(
        "%s is not set: secrets in the database are encrypted with a key derived from "
        "SECRET_KEY, and changing SECRET_KEY would make them unreadable. Set %s "
        "(docs/deploy.md, 'Secrets at rest').",
        KEY_VARIABLE,
        KEY_VARIABLE,
    )
    return Keyring(derived, derived=True)


def _forget_keyring(*, setting: str, **kwargs) -> None:
    if setting in ("HUB_ENCRYPTION_KEYS", "SECRET_KEY", "SECRET_KEY_FALLBACKS"):
        keyring.cache_clear()


setting_changed.connect(_forget_keyring)


def encrypt(text: str) -> str:
    return keyring().encrypt(text)


def decrypt(token: str) -> str:
    return keyring().decrypt(token)


def lookup_digest(value: str) -> str:
    return keyring().digest(value)


def lookup_digests(value: str) -> list[str]:
    return keyring().digests(value)


@checks.register(checks.Tags.security, deploy=True)
def check_encryption_key(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """`check --deploy`: production runs with its own key, not one tied to SECRET_KEY."""
    if getattr(settings, "HUB_ENCRYPTION_KEYS", None):
        return []
    return [
        checks.Warning(
            f"{KEY_VARIABLE} is not set: secrets in the database are encrypted with a key "
            "derived from SECRET_KEY.",
            hint=f"Set {KEY_VARIABLE} (or {KEY_VARIABLE}_FILE) to a key made with: {GENERATE_KEY}",
            id="xiaozhi_hub.W001",
        )
    ]
