"""REST views of custom tools and platforms (secrets masked in every answer).

A `script` tool runs a command on the worker: adding one, changing one, turning
a tool into one or deleting one also needs endpoints.run_commands, like a stdio
MCP server. Every write is audited with the secrets masked.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from endpoints.api import custom_tool_schema as schema
from endpoints.api.common import as_400, bool_param, get_or_404
from endpoints.custom_tool_shape import CUSTOM_TOOL_AUDIT_MASKS, PLATFORM_AUDIT_MASKS
from endpoints.models import CustomTool, Platform
from endpoints.models.custom_tool import CUSTOM_TOOL_KINDS
from endpoints.selectors.custom_tool import (
    custom_tool_dict,
    custom_tool_queryset,
    platform_dict,
    platform_queryset,
)
from endpoints.serializers.custom_tool import (
    CUSTOM_TOOL_KEYS,
    PLATFORM_KEYS,
    CustomToolInputSerializer,
    PlatformInputSerializer,
)
from endpoints.services.custom_tool import (
    CUSTOM_TOOL_FIELDS,
    PLATFORM_FIELDS,
    custom_tool_create,
    custom_tool_delete,
    custom_tool_runs_commands,
    custom_tool_update,
    platform_create,
    platform_delete,
    platform_update,
)
from xiaozhi_hub.access import audit
from xiaozhi_hub.access.permissions import require
from xiaozhi_hub.access.roles import RUN_COMMANDS
from xiaozhi_hub.pagination import HubCursorPagination, paginated_response

_TOOL_KEYS = {field: key for key, field in CUSTOM_TOOL_KEYS.items()}
_PLATFORM_KEYS = {field: key for key, field in PLATFORM_KEYS.items()}


def _tool(tool_id: int) -> CustomTool:
    return get_or_404(CustomTool, tool_id, what="custom tool")


def _platform(platform_id: int) -> Platform:
    return get_or_404(Platform, platform_id, what="platform")


def _require_run_commands(request, tool: CustomTool | None, fields: dict) -> None:
    """403 unless the user may run commands, when this write is about a script tool."""
    if custom_tool_runs_commands(tool=tool, data=fields):
        what = gettext("%(request)s (a script tool runs a command on the worker)") % {
            "request": f"{request.method} {request.path}"
        }
        require(request.user, (RUN_COMMANDS,), what=what)


class CustomToolPagination(HubCursorPagination):
    ordering = ("name",)


class PlatformPagination(HubCursorPagination):
    ordering = ("name",)


@schema.custom_tool_list
class CustomToolListView(APIView):
    """GET/POST /api/custom-tools (the handlers' secrets masked in every answer)."""

    permissions_required = {
        "GET": ("endpoints.view_customtool",),
        "POST": ("endpoints.add_customtool",),
    }
    pagination_class = CustomToolPagination

    def get(self, request):
        kind = request.query_params.get("kind") or None
        if kind is not None and kind not in CUSTOM_TOOL_KINDS:
            raise ValidationError({"kind": [gettext("unknown kind")]})
        tools = custom_tool_queryset(kind=kind, enabled=bool_param(request, "enabled"))
        return paginated_response(self, tools, custom_tool_dict)

    def post(self, request):
        serializer = CustomToolInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = serializer.to_fields()
        _require_run_commands(request, None, fields)
        try:
            tool = custom_tool_create(**fields)
        except DjangoValidationError as exc:
            raise as_400(exc, keys=_TOOL_KEYS) from None
        audit.audit_addition(
            user=request.user,
            obj=tool,
            via=audit.VIA_REST,
            values=audit.field_values(tool, CUSTOM_TOOL_FIELDS),
            masks=CUSTOM_TOOL_AUDIT_MASKS,
        )
        return Response(custom_tool_dict(tool), status=status.HTTP_201_CREATED)


@schema.custom_tool_detail
class CustomToolDetailView(APIView):
    """GET/PATCH/DELETE /api/custom-tools/<id>; a script tool also needs
    endpoints.run_commands."""

    permissions_required = {
        "GET": ("endpoints.view_customtool",),
        "PATCH": ("endpoints.change_customtool",),
        "DELETE": ("endpoints.delete_customtool",),
    }

    def get(self, request, custom_tool_id: int):
        return Response(custom_tool_dict(_tool(custom_tool_id)))

    def patch(self, request, custom_tool_id: int):
        tool = _tool(custom_tool_id)
        serializer = CustomToolInputSerializer(tool, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        fields = serializer.to_fields()
        _require_run_commands(request, tool, fields)
        before = audit.field_values(tool, CUSTOM_TOOL_FIELDS)
        try:
            tool = custom_tool_update(tool_id=custom_tool_id, data=fields)
        except DjangoValidationError as exc:
            raise as_400(exc, keys=_TOOL_KEYS) from None
        audit.audit_change(
            user=request.user,
            obj=tool,
            via=audit.VIA_REST,
            before=before,
            after=audit.field_values(tool, CUSTOM_TOOL_FIELDS),
            masks=CUSTOM_TOOL_AUDIT_MASKS,
        )
        return Response(custom_tool_dict(tool))

    def delete(self, request, custom_tool_id: int):
        tool = _tool(custom_tool_id)
        _require_run_commands(request, tool, {})
        custom_tool_delete(tool_id=custom_tool_id)
        audit.audit_deletion(user=request.user, obj=tool, via=audit.VIA_REST)
        return Response(status=status.HTTP_204_NO_CONTENT)


@schema.platform_list
class PlatformListView(APIView):
    """GET/POST /api/platforms (tokens and API keys masked in every answer)."""

    permissions_required = {
        "GET": ("endpoints.view_platform",),
        "POST": ("endpoints.add_platform",),
    }
    pagination_class = PlatformPagination

    def get(self, request):
        return paginated_response(self, platform_queryset(), platform_dict)

    def post(self, request):
        serializer = PlatformInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            platform = platform_create(**serializer.to_fields())
        except DjangoValidationError as exc:
            raise as_400(exc, keys=_PLATFORM_KEYS) from None
        audit.audit_addition(
            user=request.user,
            obj=platform,
            via=audit.VIA_REST,
            values=audit.field_values(platform, PLATFORM_FIELDS),
            masks=PLATFORM_AUDIT_MASKS,
        )
        return Response(platform_dict(platform), status=status.HTTP_201_CREATED)


@schema.platform_detail
class PlatformDetailView(APIView):
    """GET/PATCH/DELETE /api/platforms/<id>."""

    permissions_required = {
        "GET": ("endpoints.view_platform",),
        "PATCH": ("endpoints.change_platform",),
        "DELETE": ("endpoints.delete_platform",),
    }

    def get(self, request, platform_id: int):
        return Response(platform_dict(_platform(platform_id)))

    def patch(self, request, platform_id: int):
        platform = _platform(platform_id)
        serializer = PlatformInputSerializer(platform, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        before = audit.field_values(platform, PLATFORM_FIELDS)
        try:
            platform = platform_update(platform_id=platform_id, data=serializer.to_fields())
        except DjangoValidationError as exc:
            raise as_400(exc, keys=_PLATFORM_KEYS) from None
        audit.audit_change(
            user=request.user,
            obj=platform,
            via=audit.VIA_REST,
            before=before,
            after=audit.field_values(platform, PLATFORM_FIELDS),
            masks=PLATFORM_AUDIT_MASKS,
        )
        return Response(platform_dict(platform))

    def delete(self, request, platform_id: int):
        platform = _platform(platform_id)
        platform_delete(platform_id=platform_id)
        audit.audit_deletion(user=request.user, obj=platform, via=audit.VIA_REST)
        return Response(status=status.HTTP_204_NO_CONTENT)
