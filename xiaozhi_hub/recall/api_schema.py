"""The OpenAPI description of api.py (drf-spectacular). The views build their answers
as dicts (selectors.access_payload); these serializers describe them and check the
request bodies."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers

from .models import MAX_CHARS, MAX_ROWS, MIN_CHARS

TAGS = ["recall"]


class AgentShape(serializers.Serializer):
    id = serializers.IntegerField(help_text="the hub's agent id (chathistory)")
    source = serializers.CharField(help_text="the key of the source the agent comes from")
    agent_id = serializers.CharField(help_text="the agent's id on its server")
    name = serializers.CharField(allow_blank=True)


class AccessShape(serializers.Serializer):
    endpoint_id = serializers.IntegerField()
    endpoint_name = serializers.CharField()
    agent = AgentShape()
    enabled = serializers.BooleanField()
    max_rows = serializers.IntegerField(min_value=1, max_value=MAX_ROWS)
    max_chars = serializers.IntegerField(min_value=MIN_CHARS, max_value=MAX_CHARS)
    days = serializers.IntegerField(min_value=0)
    updated_at = serializers.DateTimeField()


class AccessBody(serializers.Serializer):
    """PUT: agent required when the endpoint has no access row yet; PATCH: any subset.
    A field left out keeps its value (a new row: the model's default)."""

    agent = serializers.IntegerField(
        min_value=1, required=False, help_text="the hub's agent id (required to create)"
    )
    enabled = serializers.BooleanField(required=False)
    max_rows = serializers.IntegerField(min_value=1, max_value=MAX_ROWS, required=False)
    max_chars = serializers.IntegerField(min_value=MIN_CHARS, max_value=MAX_CHARS, required=False)
    days = serializers.IntegerField(min_value=0, max_value=3650, required=False)


_BAD = OpenApiResponse(description="bad input (nothing changed)")
_MISSING = OpenApiResponse(description="no such endpoint, or it has no access row")

access_list = extend_schema(
    tags=TAGS,
    summary="Endpoints that may recall an agent's chat history (paginated)",
    responses={200: AccessShape(many=True)},
)
access_get = extend_schema(
    tags=TAGS,
    summary="One endpoint's history access",
    responses={200: AccessShape, 404: _MISSING},
)
access_put = extend_schema(
    tags=TAGS,
    summary="Link an endpoint to an agent's history (create or change)",
    request=AccessBody,
    responses={200: AccessShape, 201: AccessShape, 400: _BAD, 404: _MISSING},
)
access_patch = extend_schema(
    tags=TAGS,
    summary="Change an endpoint's history access",
    request=AccessBody(partial=True),
    responses={200: AccessShape, 400: _BAD, 404: _MISSING},
)
access_delete = extend_schema(
    tags=TAGS,
    summary="Remove an endpoint's history access (its history tools go)",
    responses={204: None, 404: _MISSING},
)
