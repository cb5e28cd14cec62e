"""REST views of endpoints, their live status and the global connection options."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from endpoints.api import endpoint_schema as schema
from endpoints.api.common import as_400, get_or_404
from endpoints.models import Endpoint, PoolOptions
from endpoints.options import BY_FIELD, CONNECTION_OPTIONS
from endpoints.pool_requests.endpoint import (
    endpoint_check_health,
    endpoint_probe,
    endpoint_reconnect,
)
from endpoints.selectors.endpoint import (
    endpoint_config_dict,
    endpoint_detail,
    endpoint_status_of,
    pool_options_get,
    pool_status,
)
from endpoints.serializers.endpoint import (
    EndpointInputSerializer,
    PoolOptionsSerializer,
    ProbeSerializer,
)
from endpoints.services.endpoint import (
    ENDPOINT_FIELDS,
    endpoint_create,
    endpoint_delete,
    endpoint_update,
    pool_options_update,
)
from xiaozhi_hub.access import audit
from xiaozhi_hub.masking import mask_url
from xiaozhi_hub.pagination import HubCursorPagination, paginated_response

# Model field -> JSON key of the request body, so a 400 names what the client sent.
_KEYS = {
    "health_check_enabled": "healthCheckEnabled",
    "reconnect_on_tools_change": "reconnectOnToolsChange",
    "peer_profile": "peerProfile",
    **{spec.field: f"options.{spec.key}" for spec in CONNECTION_OPTIONS},
}
# PUT/PATCH /api/pool/options carries the options at the top level.
_OPTION_KEYS = {field: spec.key for field, spec in BY_FIELD.items()}
# The audit log shows an endpoint's URL (its token) as everywhere else: masked.
_AUDIT_MASKS = {"url": mask_url}
_AUDITED = sorted(ENDPOINT_FIELDS)

# The permissions each view needs per method (xiaozhi_hub/access/permissions.py).
_VIEW = "endpoints.view_endpoint"
_CHANGE = "endpoints.change_endpoint"  # also: reconnect, check, probe (operators)


def _endpoint(endpoint_id: int) -> Endpoint:
    return get_or_404(Endpoint, endpoint_id, what="endpoint")


@schema.pool_status
class PoolStatusView(APIView):
    """GET /api/status: every endpoint's live status, in the original client's shape."""

    permissions_required = {"GET": (_VIEW,)}

    def get(self, request):
        return Response(pool_status())


class EndpointPagination(HubCursorPagination):
    ordering = ("id",)


@schema.endpoint_list
class EndpointListView(APIView):
    permissions_required = {"GET": (_VIEW,), "POST": ("endpoints.add_endpoint",)}
    pagination_class = EndpointPagination

    def get(self, request):
        now = timezone.now()
        return paginated_response(
            self,
            Endpoint.objects.select_related("live"),
            lambda endpoint: {
                **endpoint_config_dict(endpoint, now=now),
                "status": endpoint_status_of(endpoint, now=now),
            },
        )

    def post(self, request):
        serializer = EndpointInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = serializer.to_fields(full=False)
        options = {
            f: v
            for f, v in fields.items()
            if f in BY_FIELD or f in ("reconnect_on_tools_change", "peer_profile")
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
        audit.audit_addition(
            user=request.user,
            obj=endpoint,
            via=audit.VIA_REST,
            values=audit.field_values(endpoint, _AUDITED),
            masks=_AUDIT_MASKS,
        )
        return Response(endpoint_detail(endpoint_id=endpoint.pk), status=status.HTTP_201_CREATED)


@schema.endpoint_detail
class EndpointDetailView(APIView):
    permissions_required = {
        "GET": (_VIEW,),
        "PUT": (_CHANGE,),
        "PATCH": (_CHANGE,),
        "DELETE": ("endpoints.delete_endpoint",),
    }

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
        fields, before = serializer.to_fields(full=full), audit.field_values(endpoint, _AUDITED)
        try:
            endpoint = endpoint_update(endpoint_id=endpoint_id, data=fields)
        except DjangoValidationError as exc:
            raise as_400(exc, keys=_KEYS) from None
        audit.audit_change(
            user=request.user,
            obj=endpoint,
            via=audit.VIA_REST,
            before=before,
            after=audit.field_values(endpoint, _AUDITED),
            masks=_AUDIT_MASKS,
        )
        return Response(endpoint_detail(endpoint_id=endpoint_id))

    def delete(self, request, endpoint_id: int):
        endpoint = _endpoint(endpoint_id)
        endpoint_delete(endpoint_id=endpoint_id)
        audit.audit_deletion(user=request.user, obj=endpoint, via=audit.VIA_REST)
        return Response(status=status.HTTP_204_NO_CONTENT)


@schema.endpoint_reconnect
class EndpointReconnectView(APIView):
    permissions_required = {"POST": (_CHANGE,)}

    def post(self, request, endpoint_id: int):
        endpoint = _endpoint(endpoint_id)
        result = endpoint_reconnect(endpoint_id=endpoint_id)
        audit.audit_action(
            user=request.user,
            model="endpoints.endpoint",
            object_id=endpoint.pk,
            object_repr=str(endpoint),
            via=audit.VIA_REST,
            action="Reconnected" if result["done"] else "Reconnect failed",
        )
        return Response(result, status=200 if result["done"] else 503)


@schema.endpoint_check
class EndpointCheckView(APIView):
    """POST /api/endpoints/<id>/check: ping one endpoint now."""

    permissions_required = {"POST": (_CHANGE,)}

    def post(self, request, endpoint_id: int | None = None):
        if endpoint_id is not None:
            _endpoint(endpoint_id)
        report = endpoint_check_health(endpoint_id=endpoint_id)
        return Response(report, status=503 if report.get("error") else 200)


@schema.endpoint_check_all
class EndpointCheckAllView(EndpointCheckView):
    """POST /api/endpoints/check: every enabled endpoint."""


@schema.endpoint_probe
class EndpointProbeView(APIView):
    """POST /api/endpoints/probe: one request through the load balancer, with failover."""

    permissions_required = {"POST": (_CHANGE,)}

    def post(self, request):
        serializer = ProbeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = endpoint_probe(**serializer.validated_data)
        return Response(result, status=503 if result.get("error") else 200)


@schema.pool_options
class PoolOptionsView(APIView):
    """GET/PUT/PATCH /api/pool/options (keys as in xiaozhi.config.json, durations in ms).

    PUT and PATCH both change only the keys they carry.
    """

    permissions_required = {
        "GET": ("endpoints.view_pooloptions",),
        "PUT": ("endpoints.change_pooloptions",),
        "PATCH": ("endpoints.change_pooloptions",),
    }

    def get(self, request):
        return Response(pool_options_get())

    def put(self, request):
        serializer = PoolOptionsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        before = audit.field_values(PoolOptions.load(), list(BY_FIELD))
        try:
            with transaction.atomic():
                options = pool_options_update(data=serializer.validated_data)
        except DjangoValidationError as exc:
            raise as_400(exc, keys=_OPTION_KEYS) from None
        audit.audit_change(
            user=request.user,
            obj=options,
            via=audit.VIA_REST,
            before=before,
            after=audit.field_values(options, list(BY_FIELD)),
        )
        return Response(pool_options_get())

    patch = put
