"""Console pages (staff with the permissions of permissions.py) and the request
endpoint of the SSE transport.

The pages render what the data side has at request time; the browser client
(static/console/) then subscribes and keeps them live.
"""

from __future__ import annotations

import threading

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from rest_framework.response import Response
from rest_framework.views import APIView

from xiaozhi_hub.access.permissions import page_permissions_required
from xiaozhi_hub.broadcast import CHAT, HEALTH, SYNC, chat_channel

from . import data
from . import protocol as p
from .limits import TokenBucket
from .permissions import (
    VIEW_CHAT,
    VIEW_SYNC,
    ConsoleAccess,
    console_access_required,
    request_refusal,
)
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


def _by_agent(devices: list[dict]) -> list[dict]:
    """Devices grouped by their agent, as the xiaozhi manager lists them. `devices` come
    most recent first: so do the groups (by their most recent device), and the devices
    within each; devices without an agent are one group of their own."""
    groups: dict[str | None, dict] = {}
    for device in devices:
        key = device["agent_id"]
        group = groups.get(key)
        if group is None:
            group = groups[key] = {
                "agent_id": key,
                "name": device["agent_name"] or key or "",
                "devices": [],
            }
        group["devices"].append(device)
    return list(groups.values())


def _page(request, template: str, channels: tuple[str, ...], **context):
    context.update(
        admin.site.each_context(request),  # the admin header, user tools and links
        is_nav_sidebar_enabled=False,  # the model list would crowd a phone screen
        console_config=_client_config(*channels),
        hub_name=settings.HUB_NAME,
    )
    return render(request, template, context)


@staff_member_required
@console_access_required
def dashboard(request):
    return _page(
        request,
        "console/dashboard.html",
        (HEALTH, SYNC),
        page="dashboard",
        page_title=_("Dashboard"),
    )


@staff_member_required
@page_permissions_required(VIEW_CHAT)
def devices(request):
    search = request.GET.get("q", "").strip()[:100]
    source = request.GET.get("source", "").strip()[:32]
    devices = data.device_list(search=search, source=source or None)
    return _page(
        request,
        "console/devices.html",
        (CHAT,),
        page="devices",
        page_title=_("Devices"),
        search=search,
        source=source,
        sources=data.source_choices(),
        devices=devices,
        groups=_by_agent(devices),
    )


@staff_member_required
@page_permissions_required(VIEW_CHAT)
def transcript(request, pk: int):
    """A device's page, by primary key: an identifier may hold any character (`a/b`)."""
    try:
        device = data.device_detail(device=pk)
        sessions = data.session_list(device=pk)
    except data.UnknownObject:
        raise Http404(_("unknown device %(pk)s") % {"pk": pk}) from None
    return _page(
        request,
        "console/transcript.html",
        (chat_channel(pk),),
        page="devices",
        page_title=_("Device %(name)s") % {"name": device["alias"] or device["mac"]},
        device=device,
        sessions=sessions,
        search=request.GET.get("q", "").strip()[:200],  # from a search across devices
    )


@staff_member_required
@page_permissions_required(VIEW_CHAT)
def transcript_by_mac(request, mac: str):
    """The older address, /console/devices/<mac>/: sent on to the device's page."""
    try:
        device = data.device_detail(device=mac)
    except data.UnknownObject:
        raise Http404(_("unknown device")) from None
    return redirect("console:transcript", pk=device["id"])


@staff_member_required
@page_permissions_required(VIEW_SYNC)
def sync(request):
    return _page(request, "console/sync.html", (SYNC,), page="sync", page_title=_("Sync"))


class RequestView(APIView):
    """POST /console/request: one request frame in, its one answer frame out.

    The SSE transport's half of the protocol (sync:start, endpoint:reconnect,
    endpoint:check, heartbeat). Staff by session (with CSRF) or API token.
    """

    permission_classes = [ConsoleAccess]
    _buckets: dict[int, TokenBucket] = {}
    _lock = threading.Lock()

    def post(self, request):
        if not self._allowed(request.user.pk):
            rate = {"rate": settings.HUB_CONSOLE_RATE}
            reason = _("rate limit: at most %(rate)s frames/s") % rate
            return Response(p.error(None, reason), status=429)
        try:
            body = request.body
        except RequestDataTooBig:  # over DATA_UPLOAD_MAX_MEMORY_SIZE: not Django's HTML 400
            body = None
        if body is None or len(body) > settings.HUB_CONSOLE_MAX_FRAME_BYTES:
            return Response(p.error(None, _("frame too large")), status=413)
        try:
            frame = p.parse_frame(body.decode("utf-8", errors="replace"))
        except p.FrameError as exc:
            return Response(p.error(exc.request_id, exc.reason), status=400)
        if frame.type in (p.SUBSCRIBE, p.UNSUBSCRIBE):
            reason = _("on SSE, subscribe by opening /console/events?channels=<a,b,...>")
            return Response(p.error(frame.id, reason), status=400)
        refused = request_refusal(request.user, frame)
        if refused is not None:
            return Response(p.error(frame.id, refused), status=403)
        reply, status = answer(frame, request.user)
        return Response(reply, status=status)

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
