"""What identifies a device in the hub: its key, derived from what the source or a report holds.

xiaozhi-esp32-server names a device by the `mac_address` it stores (the report's
`macAddress`). A real MAC is written in many ways (`AA-BB-CC-DD-EE-FF`,
`aabbccddeeff`, upper or lower case); each becomes one key, `aa:bb:cc:dd:ee:ff`,
so the same device never shows up twice. Anything else the source holds is kept
as it is, only trimmed: the source is the truth, and a serial number, a name or
even `../x` is a device too. An empty identifier is refused.

Because a key can hold any character, pages, URLs and console channels name a
device by its primary key (docs/chat-history.md, "Devices").
"""

from __future__ import annotations

import re

_SEPARATED_MAC = re.compile(r"[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2}){4}")
_PLAIN_MAC = re.compile(r"[0-9a-fA-F]{12}")
_CANONICAL_MAC = re.compile(r"[0-9a-f]{2}(:[0-9a-f]{2}){5}")


class InvalidDeviceId(ValueError):
    """An identifier that names no device (empty, or not a string)."""


def device_key(raw: object) -> str:
    """The hub's key of the device the source (or a report) calls `raw`."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidDeviceId("a device identifier must be a non-empty string")
    text = raw.strip()
    if _SEPARATED_MAC.fullmatch(text):
        return text.lower().replace("-", ":")
    if _PLAIN_MAC.fullmatch(text):
        digits = text.lower()
        return ":".join(digits[i : i + 2] for i in range(0, 12, 2))
    return text


def optional_device_key(raw: str | None) -> str | None:
    """The key of a source row's device; None when the row names none (no device, not an error)."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    return device_key(raw)


def is_mac(key: str) -> bool:
    """True for a key that is a MAC (the canonical form device_key gives one)."""
    return bool(_CANONICAL_MAC.fullmatch(key))


def source_spellings(key: str) -> list[str]:
    """The ways the source may have written the device with this key (for a lookup there)."""
    if not is_mac(key):
        return [key]
    plain = key.replace(":", "")
    forms = [key, key.replace(":", "-"), plain]
    return forms + [form.upper() for form in forms]
