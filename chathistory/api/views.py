"""REST API v2 of the chat-history hub (staff session or token; see docs/chat-history.md)."""

from __future__ import annotations

from django.utils import timezone
from rest_framework import generics, status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from .. import selectors, services
from ..models import ChatSession, Device
from .pagination import DeviceCursorPagination, MessageCursorPagination, SessionCursorPagination
from .serializers import (
    DeviceSerializer,
    MessageFilterSerializer,
    MessageSerializer,
    SessionSerializer,
    SyncRequestSerializer,
)


def _device_or_404(mac: str) -> Device:
    try:
        return selectors.device_get(mac=mac)
    except Device.DoesNotExist:
        raise NotFound(f"unknown device {mac!r}: no chat history for this MAC address") from None


def _filters(request) -> dict:
    params = MessageFilterSerializer(data=request.query_params)
    params.is_valid(raise_exception=True)
    data = params.validated_data
    return {
        "since": data.get("since"),
        "until": data.get("until"),
        "role": data.get("role"),
        "session_id": data.get("session"),
        "search": data.get("q", ""),
    }


class DeviceListView(generics.ListAPIView):
    serializer_class = DeviceSerializer
    pagination_class = DeviceCursorPagination

    def get_queryset(self):
        return selectors.device_queryset(search=self.request.query_params.get("q", ""))


class DeviceHistoryView(generics.ListAPIView):
    """A device's messages (one page), grouped by session, with its statistics."""

    serializer_class = MessageSerializer
    pagination_class = MessageCursorPagination

    def get_queryset(self):
        self.device = _device_or_404(self.kwargs["device_id"])
        messages = selectors.message_queryset(device=self.device, **_filters(self.request))
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


class DeviceSessionsView(generics.ListAPIView):
    serializer_class = SessionSerializer
    pagination_class = SessionCursorPagination

    def get_queryset(self):
        return selectors.session_queryset(device=_device_or_404(self.kwargs["device_id"]))


class SessionMessagesView(generics.ListAPIView):
    serializer_class = MessageSerializer
    pagination_class = MessageCursorPagination

    def get_queryset(self):
        try:
            session = ChatSession.objects.get(session_id=self.kwargs["session_id"])
        except ChatSession.DoesNotExist:
            raise NotFound(f"unknown session {self.kwargs['session_id']!r}") from None
        filters = _filters(self.request)
        filters.pop("session_id")
        return selectors.message_rows(selectors.message_queryset(session=session, **filters))


class SyncStatusView(APIView):
    def get(self, request):
        return Response(selectors.sync_status())


class SyncRequestView(APIView):
    def post(self, request):
        params = SyncRequestSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        result = services.sync_request(**params.validated_data)
        code = status.HTTP_202_ACCEPTED if result["queued"] else status.HTTP_409_CONFLICT
        return Response(result, status=code)
