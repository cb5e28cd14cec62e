"""REST API of the endpoint pool (staff session or API token; see docs/endpoint-pool.md)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from endpoints import selectors, services
from endpoints.models import CALL_OUTCOMES, Endpoint, McpServer, Tool
from endpoints.options import BY_FIELD, CONNECTION_OPTIONS
from endpoints.serializers import (
    SERVER_KEYS,
    EndpointInputSerializer,
    McpServerInputSerializer,
    PoolOptionsSerializer,
    ProbeSerializer,
    ToolCallSerializer,
    ToolPatchSerializer,
)

_KEYS = {
    "health_check_enabled": "healthCheckEnabled",
    "reconnect_on_tools_change": "reconnectOnToolsChange",
}
_KEYS.update({spec.field: f"options.{spec.key}" for spec in CONNECTION_OPTIONS})


_SERVER_KEYS = {field: key for key, field in SERVER_KEYS.items()}


def _as_400(
    exc: DjangoValidationError, *, pool_options: bool = False, keys: dict | None = None
) -> ValidationError:
    """A model validation error as a DRF 400, keyed like the request body."""
    if not hasattr(exc, "error_dict"):
        return ValidationError({"detail": exc.messages})
    keys = _KEYS if keys is None else keys
    errors = {}
    for field, messages in exc.message_dict.items():
        key = BY_FIELD[field].key if pool_options and field in BY_FIELD else keys.get(field, field)
        errors[key] = messages
    return ValidationError(errors)


def _endpoint(endpoint_id: int) -> Endpoint:
    try:
        return Endpoint.objects.get(pk=endpoint_id)
    except Endpoint.DoesNotExist:
        raise NotFound(f"no endpoint with id {endpoint_id}") from None


class PoolStatusView(APIView):
    """GET /api/status: every endpoint's live status, in the original client's shape."""

    def get(self, request):
        return Response(selectors.pool_status())


class EndpointListView(APIView):
    def get(self, request):
        return Response(selectors.endpoint_list())

    def post(self, request):
        serializer = EndpointInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = serializer.to_fields(full=False)
        options = {
            f: v for f, v in fields.items() if f in BY_FIELD or f == "reconnect_on_tools_change"
        }
        try:
            endpoint = services.endpoint_create(
                name=fields["name"],
                url=fields["url"],
                enabled=fields.get("enabled", True),
                health_check_enabled=fields.get("health_check_enabled", True),
                options=options,
            )
        except DjangoValidationError as exc:
            raise _as_400(exc) from None
        return Response(
            selectors.endpoint_detail(endpoint_id=endpoint.pk), status=status.HTTP_201_CREATED
        )


class EndpointDetailView(APIView):
    def get(self, request, endpoint_id: int):
        _endpoint(endpoint_id)
        return Response(selectors.endpoint_detail(endpoint_id=endpoint_id))

    def put(self, request, endpoint_id: int):
        return self._update(request, endpoint_id, full=True)

    def patch(self, request, endpoint_id: int):
        return self._update(request, endpoint_id, full=False)

    def _update(self, request, endpoint_id: int, *, full: bool):
        endpoint = _endpoint(endpoint_id)
        serializer = EndpointInputSerializer(endpoint, data=request.data, partial=not full)
        serializer.is_valid(raise_exception=True)
        try:
            services.endpoint_update(endpoint_id=endpoint_id, data=serializer.to_fields(full=full))
        except DjangoValidationError as exc:
            raise _as_400(exc) from None
        return Response(selectors.endpoint_detail(endpoint_id=endpoint_id))

    def delete(self, request, endpoint_id: int):
        _endpoint(endpoint_id)
        services.endpoint_delete(endpoint_id=endpoint_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class EndpointReconnectView(APIView):
    def post(self, request, endpoint_id: int):
        _endpoint(endpoint_id)
        services.endpoint_reconnect(endpoint_id=endpoint_id)
        return Response({"id": endpoint_id, "reconnect": "requested"}, status=202)


class EndpointCheckView(APIView):
    """POST /api/endpoints/<id>/check, or /api/endpoints/check for every endpoint."""

    def post(self, request, endpoint_id: int | None = None):
        if endpoint_id is not None:
            _endpoint(endpoint_id)
        report = services.endpoint_check_health(endpoint_id=endpoint_id)
        return Response(report, status=503 if report.get("error") else 200)


class EndpointProbeView(APIView):
    """POST /api/endpoints/probe: one request through the load balancer, with failover."""

    def post(self, request):
        serializer = ProbeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = services.endpoint_probe(**serializer.validated_data)
        return Response(result, status=503 if result.get("error") else 200)


class PoolOptionsView(APIView):
    """GET/PUT/PATCH /api/pool/options (keys as in xiaozhi.config.json, durations in ms).

    PUT and PATCH both change only the keys they carry.
    """

    def get(self, request):
        return Response(selectors.pool_options_get())

    def put(self, request):
        serializer = PoolOptionsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            with transaction.atomic():
                services.pool_options_update(data=serializer.validated_data)
        except DjangoValidationError as exc:
            raise _as_400(exc, pool_options=True) from None
        return Response(selectors.pool_options_get())

    patch = put


# --- upstream MCP servers and their tools -------------------------------------------
def _server(server_id: int) -> McpServer:
    try:
        return McpServer.objects.get(pk=server_id)
    except McpServer.DoesNotExist:
        raise NotFound(f"no MCP server with id {server_id}") from None


def _tool(tool_id: int) -> Tool:
    try:
        return Tool.objects.get(pk=tool_id)
    except Tool.DoesNotExist:
        raise NotFound(f"no tool with id {tool_id}") from None


class McpServerListView(APIView):
    """GET/POST /api/mcp-servers (env and header values, URLs masked in every answer)."""

    def get(self, request):
        return Response(selectors.mcp_server_list())

    def post(self, request):
        serializer = McpServerInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            server = services.mcp_server_create(**serializer.to_fields())
        except DjangoValidationError as exc:
            raise _as_400(exc, keys=_SERVER_KEYS) from None
        return Response(
            selectors.mcp_server_detail(server_id=server.pk), status=status.HTTP_201_CREATED
        )


class McpServerDetailView(APIView):
    def get(self, request, server_id: int):
        _server(server_id)
        return Response(selectors.mcp_server_detail(server_id=server_id))

    def patch(self, request, server_id: int):
        server = _server(server_id)
        serializer = McpServerInputSerializer(server, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        try:
            services.mcp_server_update(server_id=server_id, data=serializer.to_fields())
        except DjangoValidationError as exc:
            raise _as_400(exc, keys=_SERVER_KEYS) from None
        return Response(selectors.mcp_server_detail(server_id=server_id))

    def delete(self, request, server_id: int):
        _server(server_id)
        services.mcp_server_delete(server_id=server_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _bool_param(request, name: str) -> bool | None:
    value = request.query_params.get(name)
    if value in (None, ""):
        return None
    if value.lower() in ("1", "true", "yes"):
        return True
    if value.lower() in ("0", "false", "no"):
        return False
    raise ValidationError({name: ["must be true or false"]})


def _int_param(request, name: str, *, default: int | None, maximum: int | None = None):
    value = request.query_params.get(name)
    if value in (None, ""):
        return default
    if not value.isdigit():
        raise ValidationError({name: ["must be a whole number >= 0"]})
    return min(int(value), maximum) if maximum else int(value)


class ToolListView(APIView):
    """GET /api/tools?server=<id or name>&enabled=true|false: tools with usage."""

    def get(self, request):
        return Response(
            selectors.tool_list(
                server=request.query_params.get("server") or None,
                enabled=_bool_param(request, "enabled"),
            )
        )


class ToolDetailView(APIView):
    def get(self, request, tool_id: int):
        _tool(tool_id)
        return Response(selectors.tool_detail(tool_id=tool_id))

    def patch(self, request, tool_id: int):
        _tool(tool_id)
        serializer = ToolPatchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            services.tool_update(tool_id=tool_id, data=serializer.to_fields())
        except DjangoValidationError as exc:
            keys = {"description_override": "descriptionOverride"}
            raise _as_400(exc, keys=keys) from None
        return Response(selectors.tool_detail(tool_id=tool_id))


class ToolCallView(APIView):
    """POST /api/tools/call {name, arguments, timeout?}: one worker runs it, as an endpoint would.

    200 with `result` (isError passes through) or `error` (the JSON-RPC error);
    503 when no pool runs.
    """

    def post(self, request):
        serializer = ToolCallSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        reply = services.tool_call(**serializer.validated_data)
        return Response(reply, status=503 if reply.get("poolRunning") is False else 200)


class ToolCallLogView(APIView):
    """GET /api/tools/calls?limit=&tool=&outcome=&after=<id>: the tail of the call log."""

    def get(self, request):
        outcome = request.query_params.get("outcome") or None
        if outcome is not None and outcome not in CALL_OUTCOMES:
            raise ValidationError({"outcome": [f"must be one of {', '.join(CALL_OUTCOMES)}"]})
        return Response(
            selectors.tool_calls_tail(
                limit=_int_param(request, "limit", default=50, maximum=1000),
                tool=request.query_params.get("tool") or None,
                outcome=outcome,
                after=_int_param(request, "after", default=None),
            )
        )
