"""Console pages (staff only) and the request endpoint of the SSE transport.

The pages render what the data side has at request time; the browser client
(static/console/) then subscribes and keeps them live.
"""

from __future__ import annotations

import threading

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse
from rest_framework.response import Response
from rest_framework.views import APIView

from xiaozhi_hub.broadcast import CHAT, HEALTH, SYNC, chat_channel

from . import data
from . import protocol as p
from .limits import TokenBucket
from .session import answer


def _client_config(*channels: str) -> dict:
    """What static/console/client.js needs, rendered into the page with json_script."""
    return {
        "transport": settings.HUB_CONSOLE_TRANSPORT,
        "wsPath": "/ws/console/",
        "eventsPath": reverse("console:events"),
        "requestPath": reverse("console:request"),
        "probePath": reverse("health"),
        "heartbeatInterval": settings.HUB_CONSOLE_HEARTBEAT_INTERVAL,
        "heartbeatTimeout": settings.HUB_CONSOLE_HEARTBEAT_TIMEOUT,
        "channels": list(channels),
    }


def _page(request, template: str, channels: tuple[str, ...], **context):
    context.update(
        admin.site.each_context(request),  # the admin header, user tools and links
        is_nav_sidebar_enabled=False,  # the model list would crowd a phone screen
        console_config=_client_config(*channels),
        hub_name=settings.HUB_NAME,
    )
    return render(request, template, context)


@staff_member_required
def dashboard(request):
    return _page(
        request, "console/dashboard.html", (HEALTH, SYNC), page="dashboard", page_title="Dashboard"
    )


@staff_member_required
def devices(request):
    search = request.GET.get("q", "").strip()[:100]
    return _page(
        request,
        "console/devices.html",
        (CHAT,),
        page="devices",
        page_title="Devices",
        search=search,
        devices=data.device_list(search=search),
    )


@staff_member_required
def transcript(request, device: str):
    try:
        sessions = data.session_list(device=device)
    except data.UnknownObject:
        raise Http404(f"unknown device {device!r}") from None
    return _page(
        request,
        "console/transcript.html",
        (chat_channel(device),),
        page="devices",
        page_title=f"Device {device}",
        device=device,
        sessions=sessions,
    )


@staff_member_required
def sync(request):
    return _page(request, "console/sync.html", (SYNC,), page="sync", page_title="Sync")


class RequestView(APIView):
    """POST /console/request: one request frame in, its one answer frame out.

    The SSE transport's half of the protocol (sync:start, endpoint:reconnect,
    endpoint:check, heartbeat). Staff by session (with CSRF) or API token.
    """

    _buckets: dict[int, TokenBucket] = {}
    _lock = threading.Lock()

    def post(self, request):
        if not self._allowed(request.user.pk):
            return Response(
                p.error(None, f"rate limit: at most {settings.HUB_CONSOLE_RATE} frames/s"),
                status=429,
            )
        if len(request.body) > settings.HUB_CONSOLE_MAX_FRAME_BYTES:
            return Response(p.error(None, "frame too large"), status=413)
        try:
            frame = p.parse_frame(request.body.decode("utf-8", errors="replace"))
        except p.FrameError as exc:
            return Response(p.error(exc.request_id, exc.reason), status=400)
        if frame.type in (p.SUBSCRIBE, p.UNSUBSCRIBE):
            reason = "on SSE, subscribe by opening /console/events?channels=<a,b,...>"
            return Response(p.error(frame.id, reason), status=400)
        reply = answer(frame)
        return Response(reply, status=200 if reply["type"] != "error" else 400)

    @classmethod
    def _allowed(cls, user_id: int) -> bool:
        with cls._lock:
            bucket = cls._buckets.get(user_id)
            if bucket is None:
                bucket = TokenBucket(
                    rate=settings.HUB_CONSOLE_RATE, burst=settings.HUB_CONSOLE_BURST
                )
                cls._buckets[user_id] = bucket
            return bucket.take()
