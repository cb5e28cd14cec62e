"""Who may use the console: staff holding a console permission (permissions.py), by
session cookie or by API token.

Scripts send `Authorization: Token <key>` (browsers cannot set headers on a
WebSocket; they use the admin session). Tokens are never accepted in the URL,
where they would end up in access logs.
"""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.contrib.auth.models import AnonymousUser
from knox.auth import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from .permissions import console_refusal
from .protocol import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED

INVALID_TOKEN = "invalid token"


def token_from_header(value: bytes | str | None) -> str | None:
    """The key of an `Authorization: Token <key>` header, None for anything else."""
    if not value:
        return None
    if isinstance(value, bytes):
        value = value.decode("latin1")
    scheme, _, key = value.strip().partition(" ")
    return key.strip() if scheme.lower() == "token" and key.strip() else None


def user_for_token(key: str):
    """The active user owning an unexpired API token, or None (the REST API's own check)."""
    try:
        user, _ = TokenAuthentication().authenticate_credentials(key.encode())
    except AuthenticationFailed:
        return None
    return user


def refusal(user, auth_error: str | None = None) -> tuple[int, str] | None:
    """(close code, reason) when this user may not use the console, else None."""
    if user is None or not user.is_authenticated:
        return CLOSE_UNAUTHENTICATED, auth_error or "login required"
    if not user.is_staff:
        return CLOSE_FORBIDDEN, "staff only"
    no_permission = console_refusal(user)
    if no_permission is not None:
        return CLOSE_FORBIDDEN, no_permission
    return None


class TokenAuthMiddleware(BaseMiddleware):
    """Inside AuthMiddlewareStack: a token header, when present, decides the user."""

    async def __call__(self, scope, receive, send):
        key = token_from_header(dict(scope.get("headers", [])).get(b"authorization"))
        if key is not None:
            user = await database_sync_to_async(user_for_token)(key)
            scope = dict(scope, user=user or AnonymousUser())
            if user is None:
                scope["console_auth_error"] = INVALID_TOKEN
        user = scope.get("user")
        if user is not None and user.is_authenticated:
            # Read the permissions once (Django caches them on the user): refusal() and
            # the session's checks then run in the event loop without a query.
            await database_sync_to_async(user.get_all_permissions)()
        return await super().__call__(scope, receive, send)
