from rest_framework import serializers

from ..events import message_payload
from ..models import ChatMessage, Role
from ..selectors import device_payload, session_payload


class MessageSerializer(serializers.BaseSerializer):
    def to_representation(self, instance: ChatMessage) -> dict:
        return dict(message_payload(instance))


class DeviceSerializer(serializers.BaseSerializer):
    def to_representation(self, instance) -> dict:
        return device_payload(instance)


class SessionSerializer(serializers.BaseSerializer):
    def to_representation(self, instance) -> dict:
        return session_payload(instance)


class MessageFilterSerializer(serializers.Serializer):
    """Query parameters shared by the message lists; unknown values are a 400."""

    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)
    role = serializers.ChoiceField(choices=Role.values, required=False)
    session = serializers.CharField(required=False, max_length=50)
    q = serializers.CharField(required=False, max_length=200, trim_whitespace=True)


class SyncRequestSerializer(serializers.Serializer):
    full = serializers.BooleanField(default=False)
    device = serializers.CharField(required=False, allow_null=True, max_length=50, default=None)
    session_id = serializers.CharField(required=False, allow_null=True, max_length=50, default=None)
