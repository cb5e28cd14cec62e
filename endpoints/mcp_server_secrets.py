"""How the secrets of an MCP server (URL keys, env and header values) are shown, and
taken back when a client returns what it was shown (admin, REST, config import)."""

from __future__ import annotations

from urllib.parse import urlsplit

from xiaozhi_hub.masking import MASK, mask_url


def mask_upstream_url(url: str) -> str:
    """An upstream URL safe to show: password and every query value masked.

    Upstream services put keys in query parameters under many names (`key`,
    `api_key`, `apikey`...), so none of them is shown.
    """
    masked = mask_url(url)
    try:
        parts = urlsplit(masked)
    except ValueError:
        return masked
    if not parts.query:
        return masked
    query = "&".join(
        f"{item.split('=', 1)[0]}={MASK}" if "=" in item else item
        for item in parts.query.split("&")
    )
    return parts._replace(query=query).geturl()


def mask_mapping(values: dict | None) -> dict:
    """Env or headers with every value masked (the names stay readable)."""
    return {str(key): MASK for key in (values or {})}


def unmask_mapping(incoming: dict, stored: dict) -> dict:
    """Env or headers sent back: a "***" value keeps the stored value of its key."""
    return {
        key: stored.get(key, value) if value == MASK else value for key, value in incoming.items()
    }


def unmask_urls(incoming: list, stored: list) -> list:
    """Replica URLs sent back: an entry equal to a stored URL's masked form keeps that URL."""
    by_mask = {mask_upstream_url(url): url for url in stored}
    return [by_mask.get(url, url) if isinstance(url, str) else url for url in incoming]
