"""REST API of the endpoint pool (staff session or API token; see docs/endpoint-pool.md)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from endpoints import selectors, services
from endpoints.models import Endpoint
from endpoints.options import BY_FIELD, CONNECTION_OPTIONS
from endpoints.serializers import EndpointInputSerializer, PoolOptionsSerializer, ProbeSerializer

_KEYS = {"health_check_enabled": "healthCheckEnabled"}
_KEYS.update({spec.field: f"options.{spec.key}" for spec in CONNECTION_OPTIONS})


def _as_400(exc: DjangoValidationError, *, pool_options: bool = False) -> ValidationError:
    """A model validation error as a DRF 400, keyed like the request body."""
    if not hasattr(exc, "error_dict"):
        return ValidationError({"detail": exc.messages})
    errors = {}
    for field, messages in exc.message_dict.items():
        key = BY_FIELD[field].key if pool_options and field in BY_FIELD else _KEYS.get(field, field)
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
        options = {f: v for f, v in fields.items() if f in BY_FIELD}
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
