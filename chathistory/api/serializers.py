from rest_framework import serializers

from ..export import FORMATS
from ..models import Role
from ..selectors import device_payload, message_row_payload, session_payload


class MessageSerializer(serializers.BaseSerializer):
    """A `selectors.message_rows` dict, as the console's message payload."""

    def to_representation(self, instance: dict) -> dict:
        return dict(message_row_payload(instance))


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
    source = serializers.SlugField(
        required=False,
        max_length=32,
        help_text="only messages copied from this source (its key)",
    )
    q = serializers.CharField(
        required=False,
        max_length=200,
        trim_whitespace=True,
        help_text="a part of the message text (any case)",
    )


class ExportSerializer(MessageFilterSerializer):
    """An export's query: the message filters, and the file's format."""

    format = serializers.ChoiceField(
        choices=list(FORMATS),
        default="csv",
        help_text="csv (UTF-8 with a byte order mark, for Excel) or jsonl (JSON Lines)",
    )


class SyncRequestSerializer(serializers.Serializer):
    full = serializers.BooleanField(default=False)
    source = serializers.SlugField(
        required=False,
        allow_null=True,
        max_length=32,
        default=None,
        help_text="the key of the source to sync; absent or null: every enabled source",
    )
    device = serializers.CharField(required=False, allow_null=True, max_length=50, default=None)
    session_id = serializers.CharField(required=False, allow_null=True, max_length=50, default=None)


class SourceFilterSerializer(serializers.Serializer):
    """`?source=<key>`: the lists and the older routes by identifier."""

    source = serializers.SlugField(required=False, max_length=32)
