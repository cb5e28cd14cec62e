"""REST views of the upstream MCP servers, their tools, test calls and the call log
(env and header values and URLs masked in every answer)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from endpoints.api import mcp_server_schema as schema
from endpoints.api.common import as_400, bool_param, get_or_404, int_param
from endpoints.mcp_server_audit import SERVER_AUDIT_MASKS
from endpoints.models import McpServer, Tool, ToolCall
from endpoints.models.mcp_server import CALL_OUTCOMES
from endpoints.pool_requests.tool_call import tool_call
from endpoints.selectors.mcp_server import (
    mcp_server_detail,
    mcp_server_dict,
    mcp_server_queryset,
    tool_call_dict,
    tool_detail,
    tool_dict,
    tool_queryset,
)
from endpoints.serializers.mcp_server import (
    SERVER_KEYS,
    McpServerInputSerializer,
    ToolCallSerializer,
    ToolPatchSerializer,
)
from endpoints.services.mcp_server import (
    SERVER_FIELDS,
    TOOL_FIELDS,
    mcp_server_create,
    mcp_server_delete,
    mcp_server_runs_commands,
    mcp_server_update,
    tool_update,
)
from xiaozhi_hub.access import audit
from xiaozhi_hub.access.permissions import require
from xiaozhi_hub.access.roles import RUN_COMMANDS
from xiaozhi_hub.pagination import HubCursorPagination, paginated_response

_SERVER_KEYS = {field: key for key, field in SERVER_KEYS.items()}
_VIEW = "endpoints.view_mcpserver"


def _server(server_id: int) -> McpServer:
    return get_or_404(McpServer, server_id, what="MCP server")


def _tool(tool_id: int) -> Tool:
    return get_or_404(Tool, tool_id, what="tool")


def _require_run_commands(request, server: McpServer | None, fields: dict) -> None:
    """403 unless the user may run commands, when this write is about a stdio server."""
    if mcp_server_runs_commands(server=server, data=fields):
        what = f"{request.method} {request.path} (a stdio server runs a command on the worker)"
        require(request.user, (RUN_COMMANDS,), what=what)


def _audit_server_change(request, server: McpServer, before: dict) -> None:
    audit.audit_change(
        user=request.user,
        obj=server,
        via=audit.VIA_REST,
        before=before,
        after=audit.field_values(server, SERVER_FIELDS),
        masks=SERVER_AUDIT_MASKS,
    )


class McpServerPagination(HubCursorPagination):
    ordering = ("name",)


class ToolPagination(HubCursorPagination):
    ordering = ("exposed_name", "id")


class ToolCallPagination(HubCursorPagination):
    """Newest first; with `after=<id>`, the calls since that id, oldest first (a tail -f)."""

    ordering = ("-id",)
    max_page_size = 1000

    def get_ordering(self, request, queryset, view):
        return ("id",) if request.query_params.get("after") else self.ordering


@schema.mcp_server_list
class McpServerListView(APIView):
    """GET/POST /api/mcp-servers (env and header values, URLs masked in every answer).

    A stdio server (the default transport) also needs endpoints.run_commands.
    """

    permissions_required = {"GET": (_VIEW,), "POST": ("endpoints.add_mcpserver",)}
    pagination_class = McpServerPagination

    def get(self, request):
        return paginated_response(self, mcp_server_queryset(), mcp_server_dict)

    def post(self, request):
        serializer = McpServerInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = serializer.to_fields()
        _require_run_commands(request, None, fields)
        try:
            server = mcp_server_create(**fields)
        except DjangoValidationError as exc:
            raise as_400(exc, keys=_SERVER_KEYS) from None
        audit.audit_addition(
            user=request.user,
            obj=server,
            via=audit.VIA_REST,
            values=audit.field_values(server, SERVER_FIELDS),
            masks=SERVER_AUDIT_MASKS,
        )
        return Response(mcp_server_detail(server_id=server.pk), status=status.HTTP_201_CREATED)


@schema.mcp_server_detail
class McpServerDetailView(APIView):
    """GET/PATCH/DELETE /api/mcp-servers/<id>; changing a stdio server (or making one)
    also needs endpoints.run_commands."""

    permissions_required = {
        "GET": (_VIEW,),
        "PATCH": ("endpoints.change_mcpserver",),
        "DELETE": ("endpoints.delete_mcpserver",),
    }

    def get(self, request, server_id: int):
        _server(server_id)
        return Response(mcp_server_detail(server_id=server_id))

    def patch(self, request, server_id: int):
        server = _server(server_id)
        serializer = McpServerInputSerializer(server, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        fields = serializer.to_fields()
        _require_run_commands(request, server, fields)
        before = audit.field_values(server, SERVER_FIELDS)
        try:
            server = mcp_server_update(server_id=server_id, data=fields)
        except DjangoValidationError as exc:
            raise as_400(exc, keys=_SERVER_KEYS) from None
        _audit_server_change(request, server, before)
        return Response(mcp_server_detail(server_id=server_id))

    def delete(self, request, server_id: int):
        server = _server(server_id)
        mcp_server_delete(server_id=server_id)
        audit.audit_deletion(user=request.user, obj=server, via=audit.VIA_REST)
        return Response(status=status.HTTP_204_NO_CONTENT)


@schema.tool_list
class ToolListView(APIView):
    """GET /api/tools?server=<id or name>&enabled=true|false: tools with usage."""

    permissions_required = {"GET": ("endpoints.view_tool",)}
    pagination_class = ToolPagination

    def get(self, request):
        tools = tool_queryset(
            server=request.query_params.get("server") or None,
            enabled=bool_param(request, "enabled"),
        )
        return paginated_response(self, tools, tool_dict)


@schema.tool_detail
class ToolDetailView(APIView):
    permissions_required = {"GET": ("endpoints.view_tool",), "PATCH": ("endpoints.change_tool",)}

    def get(self, request, tool_id: int):
        _tool(tool_id)
        return Response(tool_detail(tool_id=tool_id))

    def patch(self, request, tool_id: int):
        before = audit.field_values(_tool(tool_id), sorted(TOOL_FIELDS))
        serializer = ToolPatchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            tool = tool_update(tool_id=tool_id, data=serializer.to_fields())
        except DjangoValidationError as exc:
            keys = {"description_override": "descriptionOverride"}
            raise as_400(exc, keys=keys) from None
        audit.audit_change(
            user=request.user,
            obj=tool,
            via=audit.VIA_REST,
            before=before,
            after=audit.field_values(tool, sorted(TOOL_FIELDS)),
        )
        return Response(tool_detail(tool_id=tool_id))


@schema.tool_call
class ToolCallView(APIView):
    """POST /api/tools/call {name, arguments, timeout?}: one worker runs it, as an endpoint would.

    200 with `result` (isError passes through) or `error` (the JSON-RPC error);
    503 when no pool runs. Needs endpoints.add_toolcall (the tool runs for real).
    """

    permissions_required = {"POST": ("endpoints.add_toolcall",)}

    def post(self, request):
        serializer = ToolCallSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        name = serializer.validated_data["name"]
        # Recorded before the call: a call that hangs or fails may still have acted.
        audit.audit_action(
            user=request.user,
            model="endpoints.toolcall",
            object_repr=name,
            via=audit.VIA_REST,
            action=f"Tool {name!r} called (arguments not recorded)",
        )
        reply = tool_call(**serializer.validated_data)
        return Response(reply, status=503 if reply.get("poolRunning") is False else 200)


@schema.tool_call_log
class ToolCallLogView(APIView):
    """GET /api/tools/calls?page_size=&tool=&outcome=&after=<id>: the call log, paginated."""

    permissions_required = {"GET": ("endpoints.view_toolcall",)}
    pagination_class = ToolCallPagination

    def get(self, request):
        outcome = request.query_params.get("outcome") or None
        if outcome is not None and outcome not in CALL_OUTCOMES:
            raise ValidationError({"outcome": [f"must be one of {', '.join(CALL_OUTCOMES)}"]})
        calls = ToolCall.objects.all()
        if tool := request.query_params.get("tool"):
            calls = calls.filter(tool=tool)
        if outcome:
            calls = calls.filter(outcome=outcome)
        after = int_param(request, "after", default=None)
        if after is not None:
            calls = calls.filter(id__gt=after)
        return paginated_response(self, calls, tool_call_dict)
