"""REST: GET /api/recall/access, GET|PUT|PATCH|DELETE /api/recall/access/<endpoint id>.

Which endpoint's assistant may look up which agent's chat history (the history__*
tools, docs/assistant-memory.md). Changes reach the running pool at once.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from chathistory.models import Agent
from endpoints.models import Endpoint
from xiaozhi_hub.pagination import HubCursorPagination, paginated_response

from . import api_schema as schema
from . import services
from .selectors import access_get, access_payload, access_queryset

_VIEW = "recall.view_historyaccess"
_ADD = "recall.add_historyaccess"
_CHANGE = "recall.change_historyaccess"
_DELETE = "recall.delete_historyaccess"


class AccessPagination(HubCursorPagination):
    ordering = ("endpoint_id",)


class AccessListView(APIView):
    permissions_required = {"GET": (_VIEW,)}
    pagination_class = AccessPagination

    @schema.access_list
    def get(self, request):
        return paginated_response(self, access_queryset(), access_payload)


def _found(endpoint_id: int):
    access = access_get(endpoint_id=endpoint_id)
    if access is None:
        raise NotFound(f"endpoint {endpoint_id} has no history access")
    return access


class AccessDetailView(APIView):
    permissions_required = {
        "GET": (_VIEW,),
        "PUT": (_ADD, _CHANGE),
        "PATCH": (_CHANGE,),
        "DELETE": (_DELETE,),
    }

    @schema.access_get
    def get(self, request, endpoint_id: int):
        return Response(access_payload(_found(endpoint_id)))

    @schema.access_put
    def put(self, request, endpoint_id: int):
        if not Endpoint.objects.filter(pk=endpoint_id).exists():
            raise NotFound(f"no endpoint with id {endpoint_id}")
        exists = access_get(endpoint_id=endpoint_id) is not None
        return self._save(request, endpoint_id, partial=exists)

    @schema.access_patch
    def patch(self, request, endpoint_id: int):
        _found(endpoint_id)
        return self._save(request, endpoint_id, partial=True)

    @schema.access_delete
    def delete(self, request, endpoint_id: int):
        if not services.history_access_delete(endpoint_id=endpoint_id, user=request.user):
            raise NotFound(f"endpoint {endpoint_id} has no history access")
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _save(self, request, endpoint_id: int, *, partial: bool) -> Response:
        if not isinstance(request.data, dict):
            raise ValidationError({"detail": "expected a JSON object"})
        unknown = sorted(set(request.data) - set(schema.AccessBody().fields))
        if unknown:
            raise ValidationError({name[:40]: ["unknown field"] for name in unknown[:5]})
        body = schema.AccessBody(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        fields = dict(body.validated_data)
        if not partial and "agent" not in fields:
            raise ValidationError({"agent": ["required to link the endpoint to an agent"]})
        if "agent" in fields:
            agent = Agent.objects.filter(pk=fields["agent"]).first()
            if agent is None:
                raise ValidationError({"agent": [f"no agent with id {fields['agent']}"]})
            fields["agent"] = agent
        try:
            access, created = services.history_access_set(
                endpoint_id=endpoint_id, user=request.user, **fields
            )
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict) from None
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(access_payload(access_get(endpoint_id=access.endpoint_id)), status=code)
