"""The OpenAPI description of the chat-history API (docs/api.md): one `extend_schema_view`
per v2 view, the shapes the selectors build, and the report endpoint.

The report endpoint (ingest.py) is a plain Django view, so drf-spectacular does not
see it: `add_report_endpoint`, a postprocessing hook (SPECTACULAR_SETTINGS), writes its
operation into the schema. tests/api/test_schema_responses.py checks live answers of
all of these against the schema.
"""

from __future__ import annotations

from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
    extend_schema_view,
)
from rest_framework import serializers

from ..models import Role, SyncStatus
from .serializers import MessageFilterSerializer, SyncRequestSerializer

CHAT_TAGS = ["chat history"]
SYNC_TAGS = ["sync"]


_SOURCE_KEY = "the key of the source (docs/sources.md) it was copied from"


class Device(serializers.Serializer):
    id = serializers.IntegerField(help_text="what the /api/v2/devices/<id>/... routes take")
    source = serializers.CharField(help_text=_SOURCE_KEY + ": a device is (source, mac)")
    mac = serializers.CharField(help_text="the device's identifier (a MAC, or any text)")
    alias = serializers.CharField(allow_blank=True)
    board = serializers.CharField(allow_blank=True)
    firmware = serializers.CharField(allow_blank=True)
    agent_id = serializers.CharField(allow_null=True)
    agent_name = serializers.CharField(allow_null=True)
    last_connected_at = serializers.DateTimeField(allow_null=True)
    last_message_at = serializers.DateTimeField(allow_null=True)
    message_count = serializers.IntegerField()
    last_message = serializers.CharField(allow_blank=True)


class Session(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True)
    source = serializers.CharField(help_text=_SOURCE_KEY)
    session_id = serializers.CharField(allow_null=True)
    title = serializers.CharField(
        allow_blank=True, help_text="the source's title (ai_agent_chat_title); may be empty"
    )
    first_words = serializers.CharField(
        allow_null=True,
        help_text="the start of the session's first user message (null: none), "
        "what to show while it has no title",
    )
    started_at = serializers.DateTimeField(allow_null=True)
    last_message_at = serializers.DateTimeField(allow_null=True)
    message_count = serializers.IntegerField(allow_null=True)


class Message(serializers.Serializer):
    id = serializers.IntegerField()
    source = serializers.CharField(help_text=_SOURCE_KEY)
    source_id = serializers.IntegerField(allow_null=True, help_text="the source row's id")
    device = serializers.CharField(allow_null=True, help_text="the device's identifier")
    device_pk = serializers.IntegerField(allow_null=True)
    session_id = serializers.CharField(allow_null=True)
    agent_id = serializers.CharField(allow_null=True)
    role = serializers.ChoiceField(choices=Role.values)
    content = serializers.CharField(allow_blank=True)
    speaker = serializers.CharField(allow_null=True)
    tool_name = serializers.CharField(allow_null=True)
    tool_arguments = serializers.JSONField(allow_null=True)
    created_at = serializers.DateTimeField()
    audio = serializers.BooleanField(
        help_text="an audio player is offered: GET /api/v2/messages/{id}/audio (docs/audio.md)"
    )


class SessionWithMessages(Session):
    messages = Message(many=True)


class MessagesByRole(serializers.Serializer):
    user = serializers.IntegerField()
    agent = serializers.IntegerField()
    tool = serializers.IntegerField()


class DeviceStatistics(serializers.Serializer):
    messages = serializers.IntegerField()
    by_role = MessagesByRole()
    sessions = serializers.IntegerField()
    first_message_at = serializers.DateTimeField(allow_null=True)
    last_message_at = serializers.DateTimeField(allow_null=True)


# One object, not a list: its own cursors (`next`, `previous`) page through the messages.
@extend_schema_serializer(many=False)
class DeviceHistory(serializers.Serializer):
    device = Device()
    statistics = DeviceStatistics()
    last_updated = serializers.DateTimeField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    sessions = SessionWithMessages(many=True, help_text="this page's messages, by session")


class SyncTotals(serializers.Serializer):
    rows_read = serializers.IntegerField()
    rows_written = serializers.IntegerField()
    rows_skipped = serializers.IntegerField()
    runs = serializers.IntegerField()


class SourceSyncState(serializers.Serializer):
    source = serializers.CharField(help_text="the source's key")
    configured = serializers.BooleanField()
    status = serializers.ChoiceField(choices=SyncStatus.values)
    running = serializers.BooleanField()
    last_run_at = serializers.DateTimeField(allow_null=True)
    last_success_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField(allow_blank=True)
    lag_seconds = serializers.FloatField(allow_null=True)
    cursor = serializers.IntegerField()
    open_gaps = serializers.IntegerField()
    totals = SyncTotals()


class SourceSyncEntry(SourceSyncState):
    # A plain string: the enum stays SyncState's own (SyncStateStatusEnum).
    status = serializers.CharField(help_text="never, in_progress, success or failed")
    name = serializers.CharField(allow_blank=True)
    kind = serializers.CharField(allow_blank=True, help_text="mysql or manager-api")
    enabled = serializers.BooleanField()
    sync_interval = serializers.IntegerField(allow_null=True)


class SyncState(SourceSyncState):
    """The environment's source (or ?source=) at the top level, every source in `sources`."""

    devices = serializers.IntegerField()
    sessions = serializers.IntegerField()
    messages = serializers.IntegerField()
    sources = SourceSyncEntry(many=True, help_text="one entry per source")


class SyncQueued(serializers.Serializer):
    source = serializers.CharField(allow_null=True, help_text="the source asked for (null: all)")
    sources = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="the sources queued"
    )
    full = serializers.BooleanField()
    device = serializers.CharField(allow_null=True)
    session_id = serializers.CharField(allow_null=True)
    queued = serializers.BooleanField()
    reason = serializers.CharField(
        required=False, help_text="why nothing was queued (409, or 404 for an unknown source)"
    )


_SEARCH = OpenApiParameter(
    "q", str, description="a part of the identifier, alias, board, or agent name or id"
)
_SOURCE = OpenApiParameter(
    "source",
    str,
    description="a source's key: only its devices; on the routes by identifier, which "
    "source's device (needed when several sources hold the identifier: 400 otherwise)",
)


class SessionMessageFilters(MessageFilterSerializer):
    session = None  # the route names the session


device_list = extend_schema_view(
    get=extend_schema(
        tags=CHAT_TAGS,
        summary="Devices (paginated by identifier)",
        parameters=[_SEARCH, _SOURCE],
        responses={200: Device(many=True)},
    )
)
message_list = extend_schema_view(
    get=extend_schema(
        tags=CHAT_TAGS,
        summary="Messages of every device, newest first (search across devices with q)",
        description="`q` finds a part of the message text on any device; the other filters "
        "(since, until, role, session) narrow it. Paginated by cursor, like every v2 list.",
        parameters=[MessageFilterSerializer],
        responses={200: Message(many=True)},
    )
)
device_history = extend_schema_view(
    get=extend_schema(
        tags=CHAT_TAGS,
        summary="One page of a device's messages, by session, with its statistics",
        parameters=[MessageFilterSerializer],
        responses={200: DeviceHistory},
    )
)
device_sessions = extend_schema_view(
    get=extend_schema(
        tags=CHAT_TAGS,
        summary="A device's sessions",
        parameters=[_SOURCE],
        responses={200: Session(many=True)},
    )
)
session_messages = extend_schema_view(
    get=extend_schema(
        tags=CHAT_TAGS,
        summary="A session's messages",
        parameters=[SessionMessageFilters],
        responses={200: Message(many=True)},
    )
)
sync_status = extend_schema_view(
    get=extend_schema(
        tags=SYNC_TAGS,
        summary="The sync's state, per source",
        parameters=[_SOURCE],
        responses={200: SyncState, 404: OpenApiResponse(description="unknown source")},
    )
)
sync_request = extend_schema_view(
    post=extend_schema(
        tags=SYNC_TAGS,
        summary="Queue a sync now",
        request=SyncRequestSerializer,
        responses={
            202: SyncQueued,
            404: OpenApiResponse(SyncQueued, description="not queued: unknown source"),
            409: OpenApiResponse(SyncQueued, description="not queued: the source is not set"),
        },
    )
)


# --- the report endpoint (a plain Django view) -------------------------------------

REPORT_PATH = "/xiaozhi/agent/chat-history/report"
_REPORT_BODY = {
    "type": "object",
    "description": "One chat message, as xiaozhi-esp32-server's core reports it.",
    "required": ["macAddress", "sessionId", "chatType", "content", "reportTime"],
    "properties": {
        "macAddress": {"type": "string", "maxLength": 50, "description": "the device"},
        "sessionId": {"type": "string", "maxLength": 50, "nullable": True},
        "chatType": {
            "description": "1 user, 2 agent, 3 tool (a number or its text)",
            "oneOf": [
                {"type": "integer", "enum": [1, 2, 3]},
                {"type": "string", "enum": ["1", "2", "3"]},
            ],
        },
        "content": {"type": "string"},
        "reportTime": {
            "description": "epoch milliseconds (seconds from older cores), 2000-01-01 "
            "to one day past the hub's clock",
            "oneOf": [{"type": "number"}, {"type": "string"}],
        },
        "audioBase64": {"type": "string", "nullable": True, "format": "byte"},
    },
}
_REPORT_ANSWER = {
    "type": "object",
    "description": "manager-api's answer shape: `code` 0 and `data` true on success.",
    "required": ["code", "msg", "data"],
    "properties": {
        "code": {"type": "integer"},
        "msg": {"type": "string"},
        "data": {"type": "boolean"},
    },
}
_REPORT_ANSWERS = {
    "200": "stored (or already stored: a retry is idempotent)",
    "400": "a bad report; `msg` names the field",
    "401": "no valid `Authorization: Bearer <HUB_REPORT_SECRET>`",
    "403": "reports are disabled: HUB_REPORT_SECRET is not set",
    "413": "the body is over DATA_UPLOAD_MAX_MEMORY_SIZE",
    "503": "the hub could not store it; the core retries",
}


def add_report_endpoint(result, generator, request, public):
    """drf-spectacular postprocessing hook: the report endpoint's operation."""
    components = result.setdefault("components", {})
    components.setdefault("schemas", {}).update(
        {"ChatReport": _REPORT_BODY, "ChatReportAnswer": _REPORT_ANSWER}
    )
    components.setdefault("securitySchemes", {})["reportSecret"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "HUB_REPORT_SECRET (the core's manager-api secret)",
    }
    answer = {"application/json": {"schema": {"$ref": "#/components/schemas/ChatReportAnswer"}}}
    result["paths"][REPORT_PATH] = {
        "post": {
            "operationId": "chat_history_report",
            "summary": "Report one chat message (manager-api compatible)",
            "description": "Where xiaozhi-esp32-server's core sends each message "
            "(docs/chat-history.md). Never throttled.",
            "tags": CHAT_TAGS,
            "security": [{"reportSecret": []}],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/ChatReport"}}
                },
            },
            "responses": {
                code: {"description": text, "content": answer}
                for code, text in _REPORT_ANSWERS.items()
            },
        }
    }
    return result
