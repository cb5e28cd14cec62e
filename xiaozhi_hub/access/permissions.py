"""The permission checks every surface shares: REST (a DRF permission class), the
console pages (a view decorator), the console WebSocket and SSE (`refusal_reason`).

Permissions are Django's model permissions ("app_label.codename"); the roles
that hold them are in roles.py. A refusal always says which permission is
missing and which role has it, so the person refused knows whom to ask.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import wraps

from django.http import HttpRequest, HttpResponseForbidden
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

from .roles import least_role_holding


def missing_permissions(user, permissions: Iterable[str]) -> list[str]:
    """The permissions of `permissions` that `user` lacks (inactive users lack all)."""
    if user is None or not user.is_authenticated:
        return list(permissions)
    return [permission for permission in permissions if not user.has_perm(permission)]


def denial(what: str, missing: Iterable[str]) -> str:
    """The reason for a refusal: what was refused, the missing permissions, who has them."""
    parts = []
    for permission in missing:
        role = least_role_holding(permission)
        parts.append(
            f"{permission} ({role} have it)" if role else f"{permission} (superusers only)"
        )
    plural = "s" if len(parts) > 1 else ""
    return f"permission denied: {what} needs the permission{plural} {', '.join(parts)}"


def refusal_reason(user, permissions: Iterable[str], *, what: str) -> str | None:
    """None when `user` holds every permission of `permissions`, else the reason."""
    missing = missing_permissions(user, permissions)
    return denial(what, missing) if missing else None


def require(user, permissions: Iterable[str], *, what: str) -> None:
    """DRF PermissionDenied (403, the reason as `detail`) unless `user` holds them all."""
    reason = refusal_reason(user, permissions, what=what)
    if reason is not None:
        raise PermissionDenied(reason)


class HubPermissions(BasePermission):
    """REST: each view declares `permissions_required = {"GET": (...), "POST": (...)}`.

    HEAD follows GET; OPTIONS needs any one permission the view lists. A method
    the view handles but does not list is refused (closed by default), and so is
    every method of a view that declares nothing. As on the admin and the
    console, the account must also have staff status. Anonymous requests get
    DRF's "Authentication credentials were not provided." as a 401 with
    `WWW-Authenticate: Token` (the token authentication comes first).
    """

    message = "permission denied"

    def has_permission(self, request, view) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        if not request.user.is_staff:
            self.message = "permission denied: the hub's API is for staff accounts"
            return False
        declared: Mapping[str, Iterable[str]] | None = getattr(view, "permissions_required", None)
        what = f"{request.method} {request.path}"
        if declared is None:
            self.message = f"permission denied: {what} declares no permissions"
            return False
        method = "GET" if request.method == "HEAD" else request.method
        if method == "OPTIONS":
            listed = {p for permissions in declared.values() for p in permissions}
            self.message = f"permission denied: {what} needs one of {', '.join(sorted(listed))}"
            return any(request.user.has_perm(p) for p in listed)
        if method not in declared:
            if hasattr(view, method.lower()):
                self.message = f"permission denied: {what} is not open to anyone"
                return False
            return True  # the view answers 405
        reason = refusal_reason(request.user, declared[method], what=what)
        if reason is not None:
            self.message = reason
            return False
        return True


def forbidden_unless(refusal: Callable[[HttpRequest], str | None]) -> Callable:
    """A page view decorator: 403 with the reason `refusal(request)` gives, if any.

    Put it under `staff_member_required`, which sends the anonymous to the login.
    """

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            reason = refusal(request)
            if reason is not None:
                return HttpResponseForbidden(reason, content_type="text/plain; charset=utf-8")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def page_permissions_required(*permissions: str) -> Callable:
    """A page view decorator: 403 with the reason unless the user holds `permissions`."""
    return forbidden_unless(
        lambda request: refusal_reason(request.user, permissions, what=f"the page {request.path}")
    )
