"""The client's address, for the login lockout: the one the API throttles use.

Both read it the same way (REST_FRAMEWORK["NUM_PROXIES"], from HUB_PROXY_COUNT),
so a client behind the same proxy is one client to both, and one that forges
X-Forwarded-For gets no fresh address from it.
"""

from __future__ import annotations

from django.http import HttpRequest
from rest_framework.throttling import BaseThrottle


def client_ip(request: HttpRequest) -> str:
    return BaseThrottle().get_ident(request)
