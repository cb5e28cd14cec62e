"""The sources (docs/sources.md): their settings, secrets masked, a sync on demand."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from xiaozhi_hub.masking import MASK, mask_url

from .. import services, source_services
from ..models import Source


class MaskedSecretField(forms.CharField):
    """A secret shown as "***"; "***" or a blank box keeps what is stored."""

    widget = forms.TextInput(attrs={"autocomplete": "off", "size": 80})

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def prepare_value(self, value):
        # Also for a value a failed submit re-displays: never sent back to the browser.
        return MASK if value else ""


class SourceForm(forms.ModelForm):
    url = MaskedSecretField(
        label=_("URL"),
        help_text=_(
            "mysql://user:password@host:3306/database, or the manager-api base URL "
            "(https://host/xiaozhi). Stored encrypted; shown as *** (leave it to keep it)."
        ),
    )
    token = MaskedSecretField(
        label=_("token"),
        help_text=_("The manager-api token. Stored encrypted; shown as *** (leave it to keep it)."),
    )

    class Meta:
        model = Source
        fields = ("key", "name", "kind", "url", "token", "enabled", "sync_interval", "audio_mode")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk and "key" in self.fields:
            self.fields["key"].disabled = True  # the copied rows carry it

    def _kept(self, name: str) -> str:
        value = (self.cleaned_data.get(name) or "").strip()
        stored = Source.objects.filter(pk=self.instance.pk).values_list(name, flat=True).first()
        if value in ("", MASK) and stored is not None:
            return stored
        if name == "url" and stored:
            return source_services.unmasked_url(value, stored)
        return "" if value == MASK else value

    def clean_url(self) -> str:
        return self._kept("url")

    def clean_token(self) -> str:
        return self._kept("token")

    def _post_clean(self):
        super()._post_clean()
        try:
            source_services.validate_source(self.instance)
        except ValidationError as exc:
            self._update_errors(exc)


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    form = SourceForm
    list_display = (
        "key",
        "name",
        "kind",
        "masked_url",
        "enabled",
        "sync_interval",
        "audio_mode",
        "from_environment",
    )
    list_filter = ("kind", "enabled", "from_environment")
    search_fields = ("key", "name")
    readonly_fields = ("masked_url", "from_environment", "created_at", "updated_at")
    actions = ["sync_now"]

    @admin.display(description=_("URL"))
    def masked_url(self, obj: Source) -> str:
        if obj.from_environment:
            return gettext("ESP32_DATABASE_URL")
        return mask_url(obj.url) if obj.url else "-"

    def save_model(self, request, obj, form, change):
        old_url = Source.objects.filter(pk=obj.pk).values_list("url", flat=True).first()
        super().save_model(request, obj, form, change)
        if change and old_url != obj.url:
            source_services.source_connection_changed(source=obj)

    def delete_view(self, request, object_id, extra_context=None):
        source = self.get_object(request, object_id)
        if source is not None:
            held = source_services.source_history_count(source=source)
            if held:
                self.message_user(
                    request,
                    gettext(
                        "Source %(key)s still holds %(count)s messages: disable it, or remove "
                        "it with its history by `manage.py chat_sources remove %(key)s --purge`."
                    )
                    % {"key": source.key, "count": held},
                    messages.ERROR,
                )
                url = reverse("admin:chathistory_source_change", args=[source.pk])
                return HttpResponseRedirect(url)
        return super().delete_view(request, object_id, extra_context)

    def delete_model(self, request, obj):
        source_services.source_delete(source=obj)

    def delete_queryset(self, request, queryset):
        refused = []
        for source in queryset:
            try:
                source_services.source_delete(source=source)
            except source_services.SourceInUse:
                refused.append(source.key)
        if refused:
            self.message_user(
                request,
                gettext("Not removed (they still hold messages): %(keys)s")
                % {"keys": ", ".join(refused)},
                messages.ERROR,
            )

    def has_sync_permission(self, request) -> bool:
        return request.user.has_perm("chathistory.add_syncrun")

    @admin.action(description=_("Sync now"), permissions=["sync"])
    def sync_now(self, request, queryset):
        for source in queryset:
            result = services.sync_request(source=source.key)
            if result["queued"]:
                text = gettext("A sync of %(key)s was queued; progress shows on the console.")
                self.message_user(request, text % {"key": source.key})
            else:
                text = gettext("Not queued (%(key)s): %(reason)s")
                self.message_user(
                    request,
                    text % {"key": source.key, "reason": result["reason"]},
                    messages.WARNING,
                )
