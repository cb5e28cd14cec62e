"""GET .../export?format=csv|jsonl: a device's, a session's or a search's messages as a
file, streamed (docs/chat-history.md, "Export").

The same filters as the lists (since, until, role, session, q); oldest first. The
rows are read batch by batch while the file is sent (selectors.
message_rows_in_batches), so an export never holds all of them. Under ASGI
(daphne) the body is an asynchronous iterator that reads each batch in a worker
thread: Django would otherwise read a synchronous one into a list before sending it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from django.utils import timezone
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from .. import selectors
from ..export import FORMATS, export_chunks
from . import export_schema as schema
from .serializers import ExportSerializer
from .views import device_or_404, message_filters, session_or_404


class FileFormatNegotiation(DefaultContentNegotiation):
    """`format` names the file here, not one of DRF's renderers: errors are JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


async def _in_worker_thread(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    step = sync_to_async(lambda: next(chunks, None))
    while (chunk := await step()) is not None:
        yield chunk


def streamed_file(request, queryset, *, name: str) -> StreamingHttpResponse:
    """The messages of `queryset` as a download in the query's format."""
    params = ExportSerializer(data=request.query_params)
    params.is_valid(raise_exception=True)
    file_format = params.validated_data["format"]
    chunks = export_chunks(file_format, selectors.message_rows_in_batches(queryset))
    body = _in_worker_thread(chunks) if isinstance(request._request, ASGIRequest) else chunks
    response = StreamingHttpResponse(body, content_type=FORMATS[file_format])
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.{file_format}"'
    response["Cache-Control"] = "no-store"  # chat history: not for shared caches
    return response


class ExportView(APIView):
    # Reading the export is reading the chat history.
    permissions_required = {"GET": ("chathistory.view_chatmessage",)}
    renderer_classes = [JSONRenderer]
    content_negotiation_class = FileFormatNegotiation


@schema.message_export
class MessageExportView(ExportView):
    """Every device's messages that match the filters: the export of a search."""

    def get(self, request):
        filters = message_filters(request, ExportSerializer)
        return streamed_file(request, selectors.message_queryset(**filters), name="chat-search")


@schema.device_export
class DeviceExportView(ExportView):
    def get(self, request, pk: int):
        device = device_or_404(self.kwargs)
        filters = message_filters(request, ExportSerializer)
        queryset = selectors.message_queryset(device=device, **filters)
        return streamed_file(request, queryset, name=f"chat-device-{device.pk}")


@schema.session_export
class SessionExportView(ExportView):
    def get(self, request, pk: int, session_pk: int):
        session = session_or_404(self.kwargs)
        filters = message_filters(request, ExportSerializer)
        filters.pop("session_id")
        queryset = selectors.message_queryset(session=session, **filters)
        return streamed_file(request, queryset, name=f"chat-device-{pk}-session-{session.pk}")
