"""The OpenAPI description of api.py (drf-spectacular): the alert object and each view's
parameters, body and answers. The views build their answers as dicts
(selectors.alert_payload); these serializers only describe them."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers

from . import kinds
from .models import SEVERITY_CHOICES, Alert
from .services import MAX_SILENCE_MINUTES

TAGS = ["alerts"]


class AlertShape(serializers.Serializer):
    id = serializers.IntegerField()
    rule_id = serializers.IntegerField()
    rule_name = serializers.CharField()
    kind = serializers.ChoiceField(choices=kinds.KIND_CHOICES)
    severity = serializers.ChoiceField(choices=SEVERITY_CHOICES)
    subject = serializers.CharField(help_text='"endpoint:3", "mcp_server:2", "pool", "sync"...')
    subject_label = serializers.CharField(allow_blank=True)
    state = serializers.ChoiceField(choices=[Alert.FIRING, Alert.RESOLVED])
    message = serializers.CharField(allow_blank=True)
    message_zh = serializers.CharField(allow_blank=True)
    started_at = serializers.DateTimeField()
    fired_at = serializers.DateTimeField()
    resolved_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    notified_at = serializers.DateTimeField(allow_null=True)
    last_notified_at = serializers.DateTimeField(allow_null=True)
    reminder_count = serializers.IntegerField()
    flap_count = serializers.IntegerField()
    acknowledged_by = serializers.CharField(allow_null=True)
    acknowledged_at = serializers.DateTimeField(allow_null=True)
    silenced_until = serializers.DateTimeField(allow_null=True)
    silenced = serializers.BooleanField()


class OneAlert(serializers.Serializer):
    alert = AlertShape()


class SilenceBody(serializers.Serializer):
    minutes = serializers.IntegerField(
        min_value=0, max_value=MAX_SILENCE_MINUTES, help_text="0 lifts the silence"
    )


_REFUSED = OpenApiResponse(description="bad input, or the alert is over (nothing changed)")

alert_list = extend_schema(
    tags=TAGS,
    summary="Alerts, newest first (paginated)",
    parameters=[OpenApiParameter("state", str, enum=[Alert.FIRING, Alert.RESOLVED])],
    responses={200: AlertShape(many=True), 400: _REFUSED},
)
alert_acknowledge = extend_schema(
    tags=TAGS,
    summary="Acknowledge an alert: no more reminders",
    request=None,
    responses={200: OneAlert, 400: _REFUSED, 404: OpenApiResponse(description="no such alert")},
)
alert_silence = extend_schema(
    tags=TAGS,
    summary="Silence an alert: no notifications for N minutes",
    request=SilenceBody,
    responses={200: OneAlert, 400: _REFUSED, 404: OpenApiResponse(description="no such alert")},
)
