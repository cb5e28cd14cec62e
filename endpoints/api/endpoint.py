"""REST views of endpoints, their live status and the global connection options."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from endpoints.api.common import as_400, get_or_404
from endpoints.models import Endpoint
from endpoints.options import BY_FIELD, CONNECTION_OPTIONS
from endpoints.pool_requests.endpoint import (
    endpoint_check_health,
    endpoint_probe,
    endpoint_reconnect,
)
from endpoints.selectors.endpoint import (
    endpoint_detail,
    endpoint_list,
    pool_options_get,
    pool_status,
)
from endpoints.serializers.endpoint import (
    EndpointInputSerializer,
    PoolOptionsSerializer,
    ProbeSerializer,
)
from endpoints.services.endpoint import (
    endpoint_create,
    endpoint_delete,
    endpoint_update,
    pool_options_update,
)

# Model field -> JSON key of the request body, so a 400 names what the client sent.
_KEYS = {
    "health_check_enabled": "healthCheckEnabled",
    "reconnect_on_tools_change": "reconnectOnToolsChange",
    **{spec.field: f"options.{spec.key}" for spec in CONNECTION_OPTIONS},
}
# PUT/PATCH /api/pool/options carries the options at the top level.
_OPTION_KEYS = {field: spec.key for field, spec in BY_FIELD.items()}


def _endpoint(endpoint_id: int) -> Endpoint:
    return get_or_404(Endpoint, endpoint_id, what="endpoint")


class PoolStatusView(APIView):
    """GET /api/status: every endpoint's live status, in the original client's shape."""

    def get(self, request):
        return Response(pool_status())


class EndpointListView(APIView):
    def get(self, request):
        return Response(endpoint_list())

    def post(self, request):
        serializer = EndpointInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = serializer.to_fields(full=False)
        options = {
            f: v for f, v in fields.items() if f in BY_FIELD or f == "reconnect_on_tools_change"
        }
        try:
            endpoint = endpoint_create(
                name=fields["name"],
                url=fields["url"],
                enabled=fields.get("enabled", True),
                health_check_enabled=fields.get("health_check_enabled", True),
                options=options,
            )
        except DjangoValidationError as exc:
            raise as_400(exc, keys=_KEYS) from None
        return Response(endpoint_detail(endpoint_id=endpoint.pk), status=status.HTTP_201_CREATED)


class EndpointDetailView(APIView):
    def get(self, request, endpoint_id: int):
        _endpoint(endpoint_id)
        return Response(endpoint_detail(endpoint_id=endpoint_id))

    def put(self, request, endpoint_id: int):
        return self._update(request, endpoint_id, full=True)

    def patch(self, request, endpoint_id: int):
        return self._update(request, endpoint_id, full=False)

    def _update(self, request, endpoint_id: int, *, full: bool):
        endpoint = _endpoint(endpoint_id)
        serializer = EndpointInputSerializer(endpoint, data=request.data, partial=not full)
        serializer.is_valid(raise_exception=True)
        try:
            endpoint_update(endpoint_id=endpoint_id, data=serializer.to_fields(full=full))
        except DjangoValidationError as exc:
            raise as_400(exc, keys=_KEYS) from None
        return Response(endpoint_detail(endpoint_id=endpoint_id))

    def delete(self, request, endpoint_id: int):
        _endpoint(endpoint_id)
        endpoint_delete(endpoint_id=endpoint_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class EndpointReconnectView(APIView):
    def post(self, request, endpoint_id: int):
        _endpoint(endpoint_id)
        endpoint_reconnect(endpoint_id=endpoint_id)
        return Response({"id": endpoint_id, "reconnect": "requested"}, status=202)


class EndpointCheckView(APIView):
    """POST /api/endpoints/<id>/check, or /api/endpoints/check for every endpoint."""

    def post(self, request, endpoint_id: int | None = None):
        if endpoint_id is not None:
            _endpoint(endpoint_id)
        report = endpoint_check_health(endpoint_id=endpoint_id)
        return Response(report, status=503 if report.get("error") else 200)


class EndpointProbeView(APIView):
    """POST /api/endpoints/probe: one request through the load balancer, with failover."""

    def post(self, request):
        serializer = ProbeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = endpoint_probe(**serializer.validated_data)
        return Response(result, status=503 if result.get("error") else 200)


class PoolOptionsView(APIView):
    """GET/PUT/PATCH /api/pool/options (keys as in xiaozhi.config.json, durations in ms).

    PUT and PATCH both change only the keys they carry.
    """

    def get(self, request):
        return Response(pool_options_get())

    def put(self, request):
        serializer = PoolOptionsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            with transaction.atomic():
                pool_options_update(data=serializer.validated_data)
        except DjangoValidationError as exc:
            raise as_400(exc, keys=_OPTION_KEYS) from None
        return Response(pool_options_get())

    patch = put
