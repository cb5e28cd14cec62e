"""REST /api/v2/retention: retention policies (CRUD), the record of deletion passes, and
deleting a device's whole history on demand (docs/retention.md).

Deleting history needs chathistory.delete_chatmessage (administrators) and a body
{"confirm": "<the device's identifier>"}; the answer says what was deleted. Every
change and every deletion is audited (the admin's LogEntry, via the REST API).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from xiaozhi_hub.access import audit
from xiaozhi_hub.pagination import HubCursorPagination, paginated_response

from ..models import Agent, Device, RetentionPolicy, RetentionRun, RetentionScope
from ..models.retention import MAX_DAYS
from ..retention import policies
from ..retention.delete import ConfirmationMismatch, device_history_delete
from ..retention.redaction import MAX_PATTERN_CHARS, MAX_PATTERNS

TAGS = ["retention"]


# --- shapes --------------------------------------------------------------------------------


class PolicyInput(serializers.Serializer):
    """A policy as a client sends it (every field optional on PATCH)."""

    scope = serializers.ChoiceField(choices=RetentionScope.values)
    source = serializers.CharField(
        max_length=32, required=False, allow_blank=True, help_text="the source's key (scope source)"
    )
    agent = serializers.PrimaryKeyRelatedField(
        queryset=Agent.objects.all(), required=False, allow_null=True, help_text="the agent's id"
    )
    device = serializers.PrimaryKeyRelatedField(
        queryset=Device.objects.all(),
        required=False,
        allow_null=True,
        help_text="the device's id (what /api/v2/devices/<id>/... take)",
    )
    keep_messages_days = serializers.IntegerField(
        min_value=1, max_value=MAX_DAYS, required=False, allow_null=True, help_text="null: forever"
    )
    keep_audio_days = serializers.IntegerField(
        min_value=1, max_value=MAX_DAYS, required=False, allow_null=True, help_text="null: forever"
    )
    redact_phone = serializers.BooleanField(required=False)
    redact_id_number = serializers.BooleanField(required=False)
    redact_email = serializers.BooleanField(required=False)
    redact_bank_card = serializers.BooleanField(required=False)
    custom_patterns = serializers.ListField(
        child=serializers.CharField(max_length=MAX_PATTERN_CHARS, trim_whitespace=True),
        max_length=MAX_PATTERNS,
        required=False,
        help_text="regular expressions; each match becomes [redacted]",
    )
    enabled = serializers.BooleanField(required=False)

    def to_fields(self) -> dict:
        data = dict(self.validated_data)
        if "custom_patterns" in data:
            data["redact_patterns"] = data.pop("custom_patterns")
        return data


class PolicyChange(PolicyInput):
    scope = serializers.ChoiceField(choices=RetentionScope.values, required=False)


class PolicyOutput(serializers.Serializer):
    id = serializers.IntegerField()
    scope = serializers.ChoiceField(choices=RetentionScope.values)
    source = serializers.CharField()
    agent = serializers.IntegerField(allow_null=True)
    agent_id = serializers.CharField(allow_null=True, help_text="the agent's id in its source")
    device = serializers.IntegerField(allow_null=True)
    device_identifier = serializers.CharField(allow_null=True)
    keep_messages_days = serializers.IntegerField(allow_null=True)
    keep_audio_days = serializers.IntegerField(allow_null=True)
    redact_phone = serializers.BooleanField()
    redact_id_number = serializers.BooleanField()
    redact_email = serializers.BooleanField()
    redact_bank_card = serializers.BooleanField()
    custom_patterns = serializers.ListField(child=serializers.CharField())
    enabled = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class RunOutput(serializers.Serializer):
    id = serializers.IntegerField()
    trigger = serializers.ChoiceField(choices=RetentionRun.Trigger.values)
    user = serializers.CharField(allow_blank=True)
    action = serializers.CharField(help_text="apply or delete-device")
    scope = serializers.CharField(allow_blank=True)
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    messages_deleted = serializers.IntegerField()
    audio_deleted = serializers.IntegerField()
    sessions_deleted = serializers.IntegerField()
    messages_redacted = serializers.IntegerField()
    error = serializers.CharField(allow_blank=True)


class DeleteHistoryInput(serializers.Serializer):
    confirm = serializers.CharField(
        max_length=50, trim_whitespace=False, help_text="the device's identifier, exactly"
    )


class HistoryDeleted(serializers.Serializer):
    device = serializers.IntegerField()
    source = serializers.CharField()
    mac = serializers.CharField(help_text="the device's identifier")
    messages = serializers.IntegerField(help_text="messages deleted")
    audio = serializers.IntegerField(help_text="audio recordings deleted (files too)")
    sessions = serializers.IntegerField(help_text="sessions deleted")
    history_before = serializers.DateTimeField(
        help_text="rows created up to this moment are never copied again"
    )
    run = serializers.IntegerField(help_text="the retention run recording the deletion")


# --- helpers -------------------------------------------------------------------------------


def _invalid(exc: DjangoValidationError) -> ValidationError:
    if hasattr(exc, "error_dict"):
        errors = exc.message_dict
        if "redact_patterns" in errors:
            errors["custom_patterns"] = errors.pop("redact_patterns")
        return ValidationError(errors)
    return ValidationError({"detail": exc.messages})


def _policy_or_404(policy_id: int) -> RetentionPolicy:
    try:
        return policies.retention_policy_queryset().get(pk=policy_id)
    except RetentionPolicy.DoesNotExist:
        raise NotFound(f"unknown retention policy {policy_id}") from None


def _values(policy: RetentionPolicy) -> dict:
    return audit.field_values(policy, policies.AUDIT_FIELDS)


class PolicyPagination(HubCursorPagination):
    ordering = ("id",)


class RunPagination(HubCursorPagination):
    ordering = ("-id",)


# --- views ---------------------------------------------------------------------------------

_VIEW = "chathistory.view_retentionpolicy"


@extend_schema_view(
    get=extend_schema(
        tags=TAGS, summary="The retention policies", responses={200: PolicyOutput(many=True)}
    ),
    post=extend_schema(
        tags=TAGS,
        summary="Add a retention policy",
        request=PolicyInput,
        responses={201: PolicyOutput},
    ),
)
class PolicyListView(APIView):
    permissions_required = {"GET": (_VIEW,), "POST": ("chathistory.add_retentionpolicy",)}
    pagination_class = PolicyPagination

    def get(self, request):
        return paginated_response(
            self, policies.retention_policy_queryset(), policies.retention_policy_dict
        )

    def post(self, request):
        params = PolicyInput(data=request.data)
        params.is_valid(raise_exception=True)
        try:
            policy = policies.retention_policy_create(data=params.to_fields())
        except DjangoValidationError as exc:
            raise _invalid(exc) from None
        audit.audit_addition(
            user=request.user, obj=policy, via=audit.VIA_REST, values=_values(policy)
        )
        return Response(policies.retention_policy_dict(policy), status=status.HTTP_201_CREATED)


@extend_schema_view(
    get=extend_schema(tags=TAGS, summary="A retention policy", responses={200: PolicyOutput}),
    patch=extend_schema(
        tags=TAGS,
        summary="Change a retention policy",
        request=PolicyChange,
        responses={200: PolicyOutput},
    ),
    delete=extend_schema(
        tags=TAGS,
        summary="Remove a retention policy (the history stays)",
        responses={204: OpenApiResponse(description="removed")},
    ),
)
class PolicyDetailView(APIView):
    permissions_required = {
        "GET": (_VIEW,),
        "PATCH": ("chathistory.change_retentionpolicy",),
        "DELETE": ("chathistory.delete_retentionpolicy",),
    }

    def get(self, request, policy_id: int):
        return Response(policies.retention_policy_dict(_policy_or_404(policy_id)))

    def patch(self, request, policy_id: int):
        before = _values(_policy_or_404(policy_id))
        params = PolicyChange(data=request.data, partial=True)
        params.is_valid(raise_exception=True)
        try:
            policy = policies.retention_policy_update(policy_id=policy_id, data=params.to_fields())
        except DjangoValidationError as exc:
            raise _invalid(exc) from None
        audit.audit_change(
            user=request.user, obj=policy, via=audit.VIA_REST, before=before, after=_values(policy)
        )
        return Response(policies.retention_policy_dict(_policy_or_404(policy_id)))

    def delete(self, request, policy_id: int):
        policy = _policy_or_404(policy_id)
        policies.retention_policy_delete(policy_id=policy_id)
        audit.audit_deletion(user=request.user, obj=policy, via=audit.VIA_REST)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    get=extend_schema(
        tags=TAGS,
        summary="Retention runs: every deletion pass, newest first",
        responses={200: RunOutput(many=True)},
    )
)
class RunListView(APIView):
    permissions_required = {"GET": ("chathistory.view_retentionrun",)}
    pagination_class = RunPagination

    def get(self, request):
        return paginated_response(
            self, policies.retention_run_queryset(), policies.retention_run_dict
        )


@extend_schema_view(
    delete=extend_schema(
        tags=TAGS,
        summary="Delete a device's whole chat history",
        description=(
            "Deletes every message of the device (its audio and files too) and its sessions, "
            "in batches, and records the device so that no sync copies those rows again. "
            'The body must confirm: {"confirm": "<the device\'s identifier>"}, exactly as '
            "`mac` shows it. Needs chathistory.delete_chatmessage (administrators)."
        ),
        request=DeleteHistoryInput,
        responses={
            200: HistoryDeleted,
            400: OpenApiResponse(description="no confirmation, or it does not name the device"),
        },
    )
)
class DeviceHistoryDeleteView(APIView):
    permissions_required = {"DELETE": ("chathistory.delete_chatmessage",)}

    def delete(self, request, pk: int):
        try:
            device = Device.objects.get(pk=pk)
        except Device.DoesNotExist:
            raise NotFound(f"unknown device {pk}") from None
        params = DeleteHistoryInput(data=request.data)
        params.is_valid(raise_exception=True)
        try:
            deleted = device_history_delete(
                device=device,
                confirm=params.validated_data["confirm"],
                user=request.user.get_username(),
                trigger=RetentionRun.Trigger.API,
            )
        except ConfirmationMismatch as exc:
            raise ValidationError({"confirm": [str(exc)]}) from None
        audit.audit_action(
            user=request.user,
            model="chathistory.device",
            object_id=device.pk,
            object_repr=str(device),
            via=audit.VIA_REST,
            action=(
                f"Deleted the chat history of device {device.source}/{device.mac}: "
                f"{deleted.messages} messages, {deleted.audio} audio, "
                f"{deleted.sessions} sessions (retention run {deleted.run})"
            ),
        )
        return Response(deleted.as_dict())
