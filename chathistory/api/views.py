"""REST API v2 of the chat-history hub (staff session or token; see docs/chat-history.md).

Each view declares the model permissions it needs (xiaozhi_hub/access/permissions.py).
"""

from __future__ import annotations

from django.utils import timezone
from rest_framework import generics, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from xiaozhi_hub.access import audit

from .. import selectors, services
from ..models import ChatSession, Device
from . import schema
from .pagination import DeviceCursorPagination, MessageCursorPagination, SessionCursorPagination
from .serializers import (
    DeviceSerializer,
    MessageFilterSerializer,
    MessageSerializer,
    SessionSerializer,
    SourceFilterSerializer,
    SyncRequestSerializer,
)

_READ_MESSAGES = {"GET": ("chathistory.view_chatmessage",)}
_READ_SYNC = {"GET": ("chathistory.view_syncrun",)}


def source_param(request) -> str | None:
    """The `source` query parameter (a source key), validated (400 for a bad one)."""
    params = SourceFilterSerializer(data=request.query_params)
    params.is_valid(raise_exception=True)
    return params.validated_data.get("source") or None


def device_or_404(kwargs: dict, source: str | None = None) -> Device:
    """The device a route names: by primary key (`pk`), or by identifier (`device_id`, the
    older routes; any spelling of a MAC) within `source` (?source=; needed only when
    several sources hold that identifier: 400 then)."""
    try:
        if "pk" in kwargs:
            return selectors.device_get(pk=kwargs["pk"], source=source)
        return selectors.device_get(mac=kwargs["device_id"], source=source)
    except selectors.AmbiguousDevice as exc:
        raise ValidationError({"source": [str(exc)]}) from None
    except Device.DoesNotExist:
        name = kwargs.get("pk", kwargs.get("device_id"))
        where = f" in source {source!r}" if source else ""
        raise NotFound(f"unknown device {name!r}{where}: no chat history for this device") from None


def session_or_404(kwargs: dict) -> ChatSession:
    """The session a route names by device pk (`pk`) and session pk (`session_pk`)."""
    sessions = ChatSession.objects.filter(device=device_or_404(kwargs))
    try:
        return sessions.get(pk=kwargs["session_pk"])
    except ChatSession.DoesNotExist:
        raise NotFound("unknown session of this device") from None


def message_filters(request, serializer=MessageFilterSerializer) -> dict:
    """The message filters of the query (400 for a bad one), as message_queryset takes them;
    `serializer` may add parameters of its own (they are left out here)."""
    params = serializer(data=request.query_params)
    params.is_valid(raise_exception=True)
    data = params.validated_data
    return {
        "since": data.get("since"),
        "until": data.get("until"),
        "role": data.get("role"),
        "session_id": data.get("session"),
        "search": data.get("q", ""),
        "source": data.get("source") or None,
    }


@schema.device_list
class DeviceListView(generics.ListAPIView):
    # The list carries each device's last message: reading it is reading chat history.
    permissions_required = {"GET": ("chathistory.view_device", "chathistory.view_chatmessage")}
    serializer_class = DeviceSerializer
    pagination_class = DeviceCursorPagination

    def get_queryset(self):
        return selectors.device_queryset(
            search=self.request.query_params.get("q", ""), source=source_param(self.request)
        )


@schema.message_list
class MessageListView(generics.ListAPIView):
    """Messages of every device, newest first: the search across devices (`q`)."""

    permissions_required = _READ_MESSAGES
    serializer_class = MessageSerializer
    pagination_class = MessageCursorPagination

    def get_queryset(self):
        return selectors.message_rows(selectors.message_queryset(**message_filters(self.request)))


@schema.device_history
class DeviceHistoryView(generics.ListAPIView):
    """A device's messages (one page), grouped by session, with its statistics."""

    permissions_required = _READ_MESSAGES

    serializer_class = MessageSerializer
    pagination_class = MessageCursorPagination

    def get_queryset(self):
        filters = message_filters(self.request)
        self.device = device_or_404(self.kwargs, filters["source"])
        messages = selectors.message_queryset(device=self.device, **filters)
        # Plain rows that carry their session's counters: no instances, no session look-up.
        return selectors.message_rows(messages, with_session=True)

    def list(self, request, *args, **kwargs):
        rows = self.paginate_queryset(self.get_queryset())
        body = {
            "device": selectors.device_payload(self.device),
            "statistics": selectors.device_statistics(device=self.device),
            "last_updated": timezone.now().isoformat(timespec="milliseconds"),
            "next": self.paginator.get_next_link(),
            "previous": self.paginator.get_previous_link(),
            "sessions": selectors.sessions_with_messages(rows),
        }
        return Response(body)


@schema.device_sessions
class DeviceSessionsView(generics.ListAPIView):
    permissions_required = {"GET": ("chathistory.view_chatsession",)}
    serializer_class = SessionSerializer
    pagination_class = SessionCursorPagination

    def get_queryset(self):
        device = device_or_404(self.kwargs, source_param(self.request))
        return selectors.session_queryset(device=device)


@schema.session_messages
class SessionMessagesView(generics.ListAPIView):
    permissions_required = _READ_MESSAGES
    serializer_class = MessageSerializer
    pagination_class = MessageCursorPagination

    """One session's messages (by device and session pk), or, on the older route by session
    id, the messages of every device's session with that id."""

    def get_queryset(self):
        filters = message_filters(self.request)
        filters.pop("session_id")
        if "session_pk" in self.kwargs:
            messages = selectors.message_queryset(session=session_or_404(self.kwargs), **filters)
        else:
            session_id = self.kwargs["session_id"]
            sessions = ChatSession.objects.filter(session_id=session_id)
            if filters["source"]:
                sessions = sessions.filter(source=filters["source"])
            if not sessions.exists():
                raise NotFound(f"unknown session {session_id!r}") from None
            messages = selectors.message_queryset(session_id=session_id, **filters)
        return selectors.message_rows(messages)


@schema.sync_status
class SyncStatusView(APIView):
    permissions_required = _READ_SYNC

    def get(self, request):
        source = source_param(request)
        if source and not selectors.source_exists(key=source):
            raise NotFound(f"unknown source {source!r}")
        return Response(selectors.sync_status(source=source))


@schema.sync_request
class SyncRequestView(APIView):
    permissions_required = {"POST": ("chathistory.add_syncrun",)}

    def post(self, request):
        params = SyncRequestSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        result = services.sync_request(**params.validated_data)
        if result["queued"]:
            audit.audit_action(
                user=request.user,
                model="chathistory.syncrun",
                object_repr="sync",
                via=audit.VIA_REST,
                action=f"Sync started ({audit.describe_values(params.validated_data)})",
            )
        if result["queued"]:
            code = status.HTTP_202_ACCEPTED
        elif result["reason"].startswith("unknown source"):
            code = status.HTTP_404_NOT_FOUND
        else:
            code = status.HTTP_409_CONFLICT
        return Response(result, status=code)
