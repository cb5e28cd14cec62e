"""REST /api/v2/sources: the servers the hub copies chat history from (docs/sources.md).

GET lists them, POST adds one, GET/PATCH/DELETE /api/v2/sources/<key> reads,
changes or removes one. URL and token are never answered in clear: the URL's
password and the token show as "***"; a PATCH that sends "***" (or nothing) for
them keeps the stored secret. Removing a source that still holds messages is
refused (409) unless `?purge=true`, which deletes its copied history too.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from xiaozhi_hub.access import audit
from xiaozhi_hub.masking import MASK, mask_url

from .. import source_selectors, source_services
from ..models import AudioMode, Source, SourceKind

TAGS = ["sources"]
_MASKS = {"url": lambda v: mask_url(v) if v else v, "token": lambda v: MASK if v else v}


class SourceInput(serializers.Serializer):
    """A source's settings as a client sends them (every field optional on PATCH)."""

    key = serializers.SlugField(
        max_length=32, help_text="what the copied rows carry; cannot change once made"
    )
    name = serializers.CharField(max_length=100, required=False, allow_blank=True)
    # Plain strings in the schema (an enum named "kind" would collide with the alerts'):
    # the service refuses an unknown kind (400 naming `kind`).
    kind = serializers.CharField(
        max_length=16, required=False, help_text=f"one of {', '.join(SourceKind.values)}"
    )
    url = serializers.CharField(
        max_length=2000,
        required=False,
        allow_blank=True,
        trim_whitespace=True,
        help_text="mysql://user:password@host:3306/database (mysql), or the manager-api "
        "base URL https://host/xiaozhi; '***' on PATCH keeps the stored one",
    )
    token = serializers.CharField(
        max_length=4000,
        required=False,
        allow_blank=True,
        trim_whitespace=True,
        help_text="the manager-api token; '***' on PATCH keeps the stored one",
    )
    enabled = serializers.BooleanField(required=False)
    sync_interval = serializers.IntegerField(
        required=False,
        min_value=source_services.MIN_SYNC_INTERVAL,
        max_value=source_services.MAX_SYNC_INTERVAL,
        help_text="seconds between two syncs of this source",
    )
    audio_mode = serializers.ChoiceField(choices=AudioMode.values, required=False)


class SourceChange(SourceInput):
    key = None  # the route names it; it never changes


class SourceOutput(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField(allow_blank=True)
    kind = serializers.CharField(help_text=f"one of {', '.join(SourceKind.values)}")
    url = serializers.CharField(allow_blank=True, help_text="masked: the password is ***")
    token = serializers.CharField(allow_blank=True, help_text="*** when set, empty otherwise")
    enabled = serializers.BooleanField()
    sync_interval = serializers.IntegerField()
    audio_mode = serializers.ChoiceField(choices=AudioMode.values)
    from_environment = serializers.BooleanField(help_text="made from ESP32_DATABASE_URL")
    configured = serializers.BooleanField(help_text="it has a connection to read")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class SourceDeleted(serializers.Serializer):
    key = serializers.CharField()
    deleted = serializers.DictField(child=serializers.IntegerField())


def _invalid(exc: DjangoValidationError) -> ValidationError:
    if hasattr(exc, "error_dict"):
        return ValidationError(exc.message_dict)
    return ValidationError({"detail": exc.messages})


def _source_or_404(key: str) -> Source:
    try:
        return source_selectors.source_get(key=key)
    except Source.DoesNotExist:
        raise NotFound(f"unknown source {key[:40]!r}") from None


def _settings(source: Source) -> dict:
    return {name: getattr(source, name) for name in ("key", *source_services.EDITABLE_FIELDS)}


class SourceListView(APIView):
    permissions_required = {
        "GET": ("chathistory.view_source",),
        "POST": ("chathistory.add_source",),
    }

    @extend_schema(tags=TAGS, summary="The sources", responses={200: SourceOutput(many=True)})
    def get(self, request):
        source_services.source_ensure_environment()
        sources = source_selectors.source_queryset()
        return Response([source_selectors.source_payload(s) for s in sources])

    @extend_schema(
        tags=TAGS,
        summary="Add a source",
        request=SourceInput,
        responses={
            201: SourceOutput,
            400: OpenApiResponse(description="a bad field (the URL masked in the error)"),
        },
    )
    def post(self, request):
        params = SourceInput(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        if Source.objects.filter(key=data["key"]).exists():
            raise ValidationError({"key": [f"a source {data['key']!r} exists already"]})
        try:
            source = source_services.source_create(**data)
        except DjangoValidationError as exc:
            raise _invalid(exc) from None
        audit.audit_addition(
            user=request.user,
            obj=source,
            via=audit.VIA_REST,
            values=_settings(source),
            masks=_MASKS,
        )
        return Response(source_selectors.source_payload(source), status=status.HTTP_201_CREATED)


_PURGE = OpenApiParameter(
    "purge",
    bool,
    description="true: also delete every message, session, device and agent copied from it",
)


class SourceDetailView(APIView):
    permissions_required = {
        "GET": ("chathistory.view_source",),
        "PATCH": ("chathistory.change_source",),
        "DELETE": ("chathistory.delete_source",),
    }

    @extend_schema(
        tags=TAGS,
        summary="One source",
        responses={200: SourceOutput, 404: OpenApiResponse(description="unknown source")},
    )
    def get(self, request, key: str):
        return Response(source_selectors.source_payload(_source_or_404(key)))

    @extend_schema(
        tags=TAGS,
        summary="Change a source (not its key)",
        request=SourceChange,
        responses={
            200: SourceOutput,
            400: OpenApiResponse(description="a bad field"),
            404: OpenApiResponse(description="unknown source"),
        },
    )
    def patch(self, request, key: str):
        source = _source_or_404(key)
        if "key" in request.data and request.data.get("key") != source.key:
            raise ValidationError({"key": ["a source's key cannot change"]})
        params = SourceChange(data=request.data, partial=True)
        params.is_valid(raise_exception=True)
        before = _settings(source)
        try:
            source = source_services.source_update(source=source, **params.validated_data)
        except DjangoValidationError as exc:
            raise _invalid(exc) from None
        audit.audit_change(
            user=request.user,
            obj=source,
            via=audit.VIA_REST,
            before=before,
            after=_settings(source),
            masks=_MASKS,
        )
        return Response(source_selectors.source_payload(source))

    @extend_schema(
        tags=TAGS,
        summary="Remove a source",
        parameters=[_PURGE],
        responses={
            200: SourceDeleted,
            404: OpenApiResponse(description="unknown source"),
            409: OpenApiResponse(description="it still holds messages: purge=true to delete"),
        },
    )
    def delete(self, request, key: str):
        source = _source_or_404(key)
        purge = request.query_params.get("purge", "").lower() in ("1", "true", "yes")
        audited = Source(pk=source.pk, key=source.key, name=source.name)
        try:
            deleted = source_services.source_delete(source=source, purge=purge)
        except source_services.SourceInUse as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        audit.audit_deletion(user=request.user, obj=audited, via=audit.VIA_REST)
        return Response({"key": key, "deleted": deleted})
