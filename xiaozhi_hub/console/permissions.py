"""What each console page, channel and request needs (docs/console.md, "Permissions").

The same checks on both transports (WebSocket, SSE + POST /console/request) and
the pages. A connection needs at least one channel's permission (else 4403);
a subscribe or request without its permission gets an `error` frame. Every
function is synchronous (permissions are read from the database once per user
object): async callers wrap it in `database_sync_to_async`.
"""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from xiaozhi_hub.access.permissions import (
    forbidden_unless,
    missing_permissions,
    refusal_reason,
)
from xiaozhi_hub.access.roles import least_role_holding
from xiaozhi_hub.alerts.events import ALERTS
from xiaozhi_hub.broadcast import CHAT, HEALTH, SYNC

from . import protocol as p

VIEW_HEALTH = "endpoints.view_endpoint"
VIEW_CHAT = "chathistory.view_chatmessage"
VIEW_SYNC = "chathistory.view_syncrun"
VIEW_ALERTS = "alerts.view_alert"

CHANNEL_PERMISSIONS = {HEALTH: VIEW_HEALTH, CHAT: VIEW_CHAT, SYNC: VIEW_SYNC, ALERTS: VIEW_ALERTS}
# Opening the console needs one of these; the alerts channel alone does not open it.
CONSOLE_PERMISSIONS = (VIEW_HEALTH, VIEW_CHAT, VIEW_SYNC)

REQUEST_PERMISSIONS = {
    p.SYNC_START: "chathistory.add_syncrun",
    p.ENDPOINT_RECONNECT: "endpoints.change_endpoint",
    p.ENDPOINT_CHECK: "endpoints.change_endpoint",
    p.ALERT_ACKNOWLEDGE: "alerts.change_alert",
    p.ALERT_SILENCE: "alerts.change_alert",
}


def channel_permission(channel: str) -> str:
    """The permission a (validated) channel needs; `chat:<device>` is `chat`'s."""
    return CHANNEL_PERMISSIONS[CHAT if p.chat_device(channel) is not None else channel]


def console_refusal(user) -> str | None:
    """None when `user` may open the console (holds any channel's permission)."""
    needed = sorted(CONSOLE_PERMISSIONS)
    missing = missing_permissions(user, needed)
    if len(missing) < len(needed):
        return None
    return (
        f"permission denied: the console needs one of the permissions {', '.join(needed)}"
        f" ({least_role_holding(needed[0])} have them)"
    )


def subscribe_refusal(user, channel: str) -> str | None:
    return refusal_reason(user, (channel_permission(channel),), what=f"subscribing to {channel}")


def request_refusal(user, request: p.Request) -> str | None:
    """None when `user` may send this request (heartbeat, unsubscribe: anyone)."""
    if request.type == p.SUBSCRIBE:
        return subscribe_refusal(user, p.subscribable(request.payload.get("channel")))
    permission = REQUEST_PERMISSIONS.get(request.type)
    if permission is None:
        return None
    return refusal_reason(user, (permission,), what=request.type)


# Pages that render no channel's data still need some console permission.
console_access_required = forbidden_unless(lambda request: console_refusal(request.user))


class ConsoleAccess(BasePermission):
    """POST /console/request: staff with a console permission (each request then needs its
    own, checked with request_refusal)."""

    message = "permission denied"

    def has_permission(self, request, view) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return False
        if not user.is_staff:
            self.message = "permission denied: the console is for staff accounts"
            return False
        reason = console_refusal(user)
        if reason is not None:
            self.message = reason
            return False
        return True
