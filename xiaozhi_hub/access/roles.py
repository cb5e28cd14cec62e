"""The hub's roles: three groups and the model permissions each holds.

One place says who may do what; the data migration (migrations/0001_roles.py)
keeps a frozen copy of these lists, and tests/access/ checks that the copy
and this module agree. A change here needs a new data migration.

Superusers hold every permission. Users, groups, API tokens and the beat
schedule are not part of any role: only superusers manage them (a right to
create a token for another user would be a right to become that user).
"""

from __future__ import annotations

VIEWERS = "Hub viewers"
OPERATORS = "Hub operators"
ADMINISTRATORS = "Hub administrators"

# The apps' models, as "app_label.model_name" (their default add/change/delete/view).
ENDPOINT_MODELS = (
    "endpoints.customtool",  # custom tools (endpoints/migrations/0007)
    "endpoints.endpoint",
    "endpoints.endpointevent",
    "endpoints.endpointhealthbucket",  # health history (endpoints/migrations/0005)
    "endpoints.endpointlivestatus",
    "endpoints.mcpserver",
    "endpoints.mcpserverhealthbucket",  # health history (endpoints/migrations/0005)
    "endpoints.platform",  # their platforms' credentials (endpoints/migrations/0007)
    "endpoints.pooloptions",
    "endpoints.poolworker",
    "endpoints.tool",
    "endpoints.toolcall",
)
CHAT_MODELS = (
    "chathistory.agent",
    "chathistory.chataudio",
    "chathistory.chatmessage",
    "chathistory.chatsession",
    "chathistory.deleteddevice",  # deleted device histories (chathistory/migrations/0009)
    "chathistory.device",
    "chathistory.ingestbucket",  # history (chathistory/migrations/0003)
    "chathistory.remotesession",  # manager-api sessions copied (chathistory/migrations/0007)
    "chathistory.retentionpolicy",  # retention policies (chathistory/migrations/0009)
    "chathistory.retentionrun",  # the record of deletion passes (chathistory/migrations/0009)
    "chathistory.searchgram",  # the search index (chathistory/migrations/0010)
    "chathistory.searchindexstate",  # how far it got (chathistory/migrations/0010)
    "chathistory.skippedrow",
    "chathistory.source",  # several servers (chathistory/migrations/0006)
    "chathistory.syncbucket",  # history (chathistory/migrations/0003)
    "chathistory.syncgap",
    "chathistory.syncrun",
    "chathistory.syncstate",
)

# The alert rules and alerts (xiaozhi_hub/alerts/; its migration 0001 gives the roles these).
ALERT_MODELS = ("alerts.alert", "alerts.alertrule")
# Where notifications go (xiaozhi_hub/notifications/; its migration 0001 gives the roles these).
NOTIFICATION_MODELS = ("notifications.notificationchannel",)
# Which endpoint may recall which agent's history (xiaozhi_hub/recall/; its migration 0001).
RECALL_MODELS = ("recall.historyaccess",)

# Running a command on the worker (stdio MCP servers): its own, most dangerous right.
RUN_COMMANDS = "endpoints.run_commands"


def _model_permissions(models: tuple[str, ...], actions: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(
        f"{model.split('.')[0]}.{action}_{model.split('.')[1]}"
        for model in models
        for action in actions
    )


# Read endpoints, tools, the call log, chat history and sync state; the console read-only.
VIEWER_PERMISSIONS = _model_permissions(
    ENDPOINT_MODELS + CHAT_MODELS + ALERT_MODELS + NOTIFICATION_MODELS + RECALL_MODELS, ("view",)
)

# Also: change endpoints (reconnect and check them too) and the pool options, enable,
# disable and tune tools, start syncs, call a tool through the pool.
OPERATOR_PERMISSIONS = VIEWER_PERMISSIONS + (
    "endpoints.change_endpoint",
    "endpoints.change_pooloptions",
    "endpoints.change_tool",
    "endpoints.add_toolcall",  # POST /api/tools/call
    "chathistory.add_syncrun",  # start a sync (REST, console)
    "alerts.change_alert",  # acknowledge and silence alerts (admin, REST, console)
)

# Everything of both apps, the right to run commands, and the audit log.
ADMINISTRATOR_PERMISSIONS = _model_permissions(
    ENDPOINT_MODELS + CHAT_MODELS + ALERT_MODELS + NOTIFICATION_MODELS + RECALL_MODELS,
    ("add", "change", "delete", "view"),
) + (RUN_COMMANDS, "admin.view_logentry")

ROLES: dict[str, tuple[str, ...]] = {
    VIEWERS: VIEWER_PERMISSIONS,
    OPERATORS: OPERATOR_PERMISSIONS,
    ADMINISTRATORS: ADMINISTRATOR_PERMISSIONS,
}


def least_role_holding(permission: str) -> str | None:
    """The first role (viewers, operators, administrators) that holds `permission`."""
    for role, permissions in ROLES.items():
        if permission in permissions:
            return role
    return None
