"""GET /api/v2/messages/<pk>/audio: a message's audio (WAV), with HTTP Range requests
(docs/audio.md). Whoever may read the chat history may listen to it
(chathistory.view_chatmessage); the source's audio mode and the agent's setting decide
whether there is anything to hear (chathistory/audio/policy.py).

Errors are JSON ({"detail": ...}) whatever the client accepts: the success is a file.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from django.core.handlers.asgi import ASGIRequest
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from xiaozhi_hub.api_schema import ERROR

from ..audio.fetch import AudioUnavailable, audio_for_play
from ..audio.ranges import ranged_response
from ..audio.storage import open_audio
from .export import FileFormatNegotiation, _in_worker_thread
from .schema import CHAT_TAGS

_AUDIO = OpenApiResponse(
    OpenApiTypes.BINARY,
    description="The audio (WAV, 16 kHz mono, as the server recorded it); Accept-Ranges: bytes.",
)
_PART = OpenApiResponse(
    OpenApiTypes.BINARY,
    description="The range asked for; Content-Range: bytes <first>-<last>/<size>.",
)
_NO_AUDIO = OpenApiResponse(
    ERROR,
    description="No audio to play; `detail` says why: an unknown message, audio turned off "
    "for its source, an agent that keeps no audio, no audio recorded, or the source lacks it.",
)
_UNSATISFIABLE = OpenApiResponse(
    OpenApiTypes.STR,
    description="The range starts past the end, or is not a byte range; "
    "Content-Range: bytes */<size>.",
)
_RANGE = OpenApiParameter(
    "Range",
    str,
    location=OpenApiParameter.HEADER,
    required=False,
    description="One byte range: bytes=0-99, bytes=100- or bytes=-500. Several ranges "
    "(bytes=0-9,20-29) are answered with the whole file (200); another unit is ignored.",
)


def _etag(audio) -> str:
    return f'"audio-{audio.message_id}-{audio.size}-{int(audio.copied_at.timestamp())}"'


class MessageAudioView(APIView):
    # Listening to the history is reading it.
    permissions_required = {"GET": ("chathistory.view_chatmessage",)}
    renderer_classes = [JSONRenderer]
    content_negotiation_class = FileFormatNegotiation

    @extend_schema(
        tags=CHAT_TAGS,
        summary="A message's audio (WAV), with Range requests",
        description="Served only when the message's source has audio turned on (lazy or "
        "sync) and its agent keeps audio (chat_history_conf 2). In lazy mode the first "
        "play copies the audio from the source. 404 says why there is none: unknown "
        "message, audio off for the source, an agent without audio, no audio recorded.",
        parameters=[_RANGE],
        responses={
            (200, "audio/wav"): _AUDIO,
            (206, "audio/wav"): _PART,
            404: _NO_AUDIO,
            (416, "text/plain"): _UNSATISFIABLE,
        },
    )
    def get(self, request, message_pk: int):
        try:
            audio = audio_for_play(message_id=message_pk)
            handle, size = open_audio(audio)
        except AudioUnavailable as exc:
            raise NotFound(exc.reason) from None
        except FileNotFoundError:
            raise NotFound("the audio file is missing from the hub's storage") from None
        etag = _etag(audio)
        response = ranged_response(
            handle=handle,
            size=size,
            content_type=audio.content_type,
            range_header=request.headers.get("Range"),
            if_range=request.headers.get("If-Range"),
            etag=etag,
            filename=PurePosixPath(audio.file.name).name if audio.file else "audio.wav",
        )
        if response.streaming and isinstance(request._request, ASGIRequest):
            # Daphne: read in a worker thread, chunk by chunk (not into a list first).
            response.streaming_content = _in_worker_thread(iter(response.streaming_content))
        # Chat audio: never kept by a shared cache, nor by the browser past this page.
        response["Cache-Control"] = "private, no-store"
        return response
