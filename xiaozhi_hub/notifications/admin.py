"""Admin of the notification channels: target settings write-only (shown masked), the
delivery record, and "Send test notification" (an action and a button on the page).

Only users who may change channels see the target inputs and may send a test.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils.text import format_lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from xiaozhi_hub.masking import mask_text

from .models import NotificationChannel
from .services import channel_test
from .targets import KIND_FIELDS

KEEP = _("Leave blank to keep the current value.")
TARGET_INPUTS = ("url", "secret", "bot_token", "chat_id", "recipients")


def _write_only(label: str, help_text: str, *, password: bool = True) -> forms.CharField:
    # The stored value is never sent to the browser: blank keeps it.
    attrs = {"size": 80, "autocomplete": "off"}
    widget = (
        forms.PasswordInput(render_value=False, attrs=attrs) if password else forms.TextInput(attrs)
    )
    return forms.CharField(
        label=label,
        required=False,
        strip=True,
        widget=widget,
        help_text=format_lazy("{} {}", help_text, KEEP),
    )


class NotificationChannelForm(forms.ModelForm):
    url = _write_only(
        _("URL"),
        _(
            "Webhook: the http(s) URL the JSON is posted to. DingTalk, Feishu/Lark, WeCom: the "
            "robot's Webhook URL. Other: an Apprise URL."
        ),
    )
    secret = _write_only(
        _("DingTalk 加签 secret"), _("DingTalk only, when the robot signs (SEC...).")
    )
    bot_token = _write_only(_("Telegram bot token"), _("Telegram only: the token @BotFather gave."))
    chat_id = _write_only(
        _("Telegram chat id"),
        _("Telegram only: -100... for a group, @name for a channel."),
        password=False,
    )
    recipients = _write_only(
        _("Email recipients"), _("Email only: addresses, separated by commas."), password=False
    )

    class Meta:
        model = NotificationChannel
        fields = ("name", "kind", "enabled", "language", "min_severity")

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("kind")
        if kind not in KIND_FIELDS:
            return cleaned
        instance = self.instance
        stored = instance.target if instance.pk and instance.kind == kind else {}
        target = {}
        for field in KIND_FIELDS[kind]:
            value = cleaned.get(field) or ""
            if field == "recipients" and value:
                value = [address.strip() for address in value.split(",") if address.strip()]
            value = value or stored.get(field)
            if value:
                target[field] = value
        # Checked (with Apprise) by the model's clean(); its errors name these inputs.
        instance.target = target
        return cleaned


@admin.register(NotificationChannel)
class NotificationChannelAdmin(admin.ModelAdmin):
    form = NotificationChannelForm
    list_display = (
        "name",
        "kind",
        "enabled",
        "language",
        "min_severity",
        "masked_target",
        "last_success_at",
        "last_failure_at",
        "consecutive_failures",
        "masked_last_error",
    )
    list_filter = ("kind", "enabled", "language")
    search_fields = ("name",)
    readonly_fields = (
        "masked_target",
        "last_success_at",
        "last_failure_at",
        "consecutive_failures",
        "masked_last_error",
    )
    fieldsets = (
        (None, {"fields": ("name", "kind", "enabled", "language", "min_severity")}),
        (
            _("Where it delivers"),
            {
                "fields": ("masked_target", *TARGET_INPUTS),
                "description": _(
                    "Fill in the fields of the chosen kind (docs/notifications.md "
                    "says where to find each). They are stored encrypted and never shown again."
                ),
            },
        ),
        (
            _("Delivery"),
            {
                "fields": (
                    "last_success_at",
                    "last_failure_at",
                    "consecutive_failures",
                    "masked_last_error",
                )
            },
        ),
    )
    actions = ["send_test_notification"]

    def get_fieldsets(self, request, obj=None):
        editable = (
            self.has_change_permission(request, obj)
            if obj is not None
            else self.has_add_permission(request)
        )
        fieldsets = super().get_fieldsets(request, obj)
        if editable:
            return fieldsets
        # A viewer sees the masked summary, not the inputs.
        return [
            (name, {**options, "fields": [f for f in options["fields"] if f not in TARGET_INPUTS]})
            for name, options in fieldsets
        ]

    @admin.display(description=_("target"))
    def masked_target(self, obj: NotificationChannel) -> str:
        return obj.masked_target if obj.pk else "-"

    @admin.display(description=_("last error"))
    def masked_last_error(self, obj: NotificationChannel) -> str:
        return mask_text(obj.last_error) if obj.last_error else "-"

    # --- the test notification ----------------------------------------------------------

    @admin.action(description=_("Send test notification"), permissions=["change"])
    def send_test_notification(self, request, queryset) -> None:
        for channel in queryset:
            self._send_test(request, channel)

    def _send_test(self, request, channel: NotificationChannel) -> None:
        error = channel_test(channel_id=channel.pk)
        if error is None:
            text = gettext("Test notification delivered to “%(name)s”.") % {"name": channel.name}
            self.message_user(request, text)
        else:
            text = gettext("Test notification to “%(name)s” failed: %(error)s") % {
                "name": channel.name,
                "error": error,
            }
            self.message_user(request, text, level=messages.ERROR)

    def get_urls(self):
        return [
            path(
                "<path:object_id>/test/",
                self.admin_site.admin_view(self.test_view),
                name="notifications_notificationchannel_test",
            ),
            *super().get_urls(),
        ]

    def test_view(self, request, object_id: str):
        """POST: the change page's "Send test notification" button."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        channel = self.get_object(request, unquote(object_id))
        if channel is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        self._send_test(request, channel)
        return redirect(
            reverse("admin:notifications_notificationchannel_change", args=[channel.pk])
        )
