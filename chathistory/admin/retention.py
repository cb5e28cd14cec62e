"""Retention (docs/retention.md): the policies, the devices whose history was deleted, and
the record of every deletion pass (read-only)."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from ..models import DeletedDevice, RetentionPolicy, RetentionRun
from ..retention.policies import POLICY_FIELDS
from ..retention.redaction import validate_patterns


class RetentionPolicyForm(forms.ModelForm):
    class Meta:
        model = RetentionPolicy
        fields = POLICY_FIELDS

    def clean_redact_patterns(self) -> str:
        text = self.cleaned_data.get("redact_patterns", "")
        validate_patterns([line.strip() for line in text.splitlines() if line.strip()])
        return text


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(admin.ModelAdmin):
    form = RetentionPolicyForm
    list_display = (
        "__str__",
        "scope",
        "source",
        "keep_messages_days",
        "keep_audio_days",
        "masks",
        "enabled",
        "updated_at",
    )
    list_filter = ("scope", "source", "enabled")
    raw_id_fields = ("agent", "device")
    fieldsets = (
        (None, {"fields": ("scope", "source", "agent", "device", "enabled")}),
        (_("Keep"), {"fields": ("keep_messages_days", "keep_audio_days")}),
        (
            _("Mask before storing"),
            {
                "fields": (
                    "redact_phone",
                    "redact_id_number",
                    "redact_email",
                    "redact_bank_card",
                    "redact_patterns",
                )
            },
        ),
    )

    @admin.display(description=_("masks"), boolean=True)
    def masks(self, obj: RetentionPolicy) -> bool:
        return obj.redacts


@admin.register(DeletedDevice)
class DeletedDeviceAdmin(admin.ModelAdmin):
    """Removing a row lets a full resync copy the device's history again."""

    list_display = ("source", "mac", "history_before", "messages_deleted", "deleted_by")
    list_filter = ("source",)
    search_fields = ("mac",)
    readonly_fields = (
        "source",
        "mac",
        "history_before",
        "messages_deleted",
        "deleted_by",
        "deleted_at",
    )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(RetentionRun)
class RetentionRunAdmin(admin.ModelAdmin):
    list_display = (
        "started_at",
        "action",
        "trigger",
        "user",
        "scope",
        "messages_deleted",
        "audio_deleted",
        "sessions_deleted",
        "messages_redacted",
        "short_error",
    )
    list_filter = ("action", "trigger")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # the record of what was deleted stays

    @admin.display(description=_("error"))
    def short_error(self, obj: RetentionRun) -> str:
        return obj.error[:100]
