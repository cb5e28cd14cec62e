"""Who may scrape `/metrics`: a bearer token, client addresses, or both.

HUB_METRICS_TOKEN: `Authorization: Bearer <token>`, compared in constant time.
HUB_METRICS_ALLOWED_IPS: networks (CIDRs) the client address must be in, that
address read as the throttles and the login lockout read it (client_ip.py,
HUB_PROXY_COUNT). Both set: a scrape needs both. Neither: nobody may scrape,
so the numbers (endpoint names, tool names) are never open by default.
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.http import HttpRequest

from xiaozhi_hub.client_ip import client_ip

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Refusal:
    status: int  # 401: no or a wrong token (with a Bearer challenge); 403: otherwise
    reason: str


NOT_CONFIGURED = Refusal(
    403,
    "metrics are not open to anyone: set HUB_METRICS_TOKEN and/or HUB_METRICS_ALLOWED_IPS "
    "(docs/metrics.md)",
)


@cache
def _networks(values: tuple[str, ...]) -> tuple[Network, ...]:
    # settings.py has refused a value that is not an address or a network.
    return tuple(ipaddress.ip_network(value, strict=False) for value in values)


def _address_allowed(request: HttpRequest, networks: tuple[Network, ...]) -> bool:
    try:
        address = ipaddress.ip_address((client_ip(request) or "").strip())
    except ValueError:
        return False
    return any(address in network for network in networks)


def _token_matches(request: HttpRequest, token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def refusal(request: HttpRequest) -> Refusal | None:
    """Why this request may not scrape, or None when it may."""
    token = settings.HUB_METRICS_TOKEN
    allowed = tuple(settings.HUB_METRICS_ALLOWED_IPS)
    if not token and not allowed:
        return NOT_CONFIGURED
    if allowed and not _address_allowed(request, _networks(allowed)):
        return Refusal(403, "this address may not scrape metrics (HUB_METRICS_ALLOWED_IPS)")
    if token and not _token_matches(request, token):
        return Refusal(401, "a valid Authorization: Bearer <HUB_METRICS_TOKEN> is required")
    return None
