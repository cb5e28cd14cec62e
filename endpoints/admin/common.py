"""Admin pieces both domains use: secret URL forms, masked JSON fields, secret fields kept
off read-only pages, enable/disable actions, deletes through the services."""

from __future__ import annotations

import json

from django import forms
from django.conf import settings
from django.contrib import admin
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from endpoints.mcp_server_secrets import mask_mapping, mask_upstream_url
from xiaozhi_hub.jsonlimits import JsonInputError, loads_limited


def secret_url_field(help_text: str) -> forms.CharField:
    """A password-style input: the stored URL (with its token or key) is never sent to the
    browser."""
    return forms.CharField(
        label=gettext_lazy("URL"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"size": 80, "autocomplete": "off"}),
        help_text=help_text,
    )


class SecretUrlForm(forms.ModelForm):
    """A model form with a secret `url` (declare it with `secret_url_field`): left blank on
    an existing row, the stored URL stays; `url_required` says whether a new row needs one."""

    url_required = True

    def clean_url(self) -> str:
        value = self.cleaned_data.get("url", "")
        if not value and self.instance.pk:
            return self.instance.url
        if not value and self.url_required:
            raise forms.ValidationError(_("This field is required."))
        return value


def enable_actions(set_enabled, noun: str):
    """The admin actions Enable and Disable, for a `set_enabled(ids, on) -> count` service
    (offered only to users who may change the rows). `noun` names one row (translated:
    pass it as gettext_lazy)."""

    @admin.action(description=gettext_lazy("Enable"), permissions=["change"])
    def enable(modeladmin, request, queryset) -> None:
        changed = set_enabled(queryset.values_list("pk", flat=True), True)
        message = ngettext("Enabled %(count)s %(noun)s.", "Enabled %(count)s %(noun)s(s).", changed)
        modeladmin.message_user(request, message % {"count": changed, "noun": noun})

    @admin.action(description=gettext_lazy("Disable"), permissions=["change"])
    def disable(modeladmin, request, queryset) -> None:
        changed = set_enabled(queryset.values_list("pk", flat=True), False)
        message = ngettext(
            "Disabled %(count)s %(noun)s.", "Disabled %(count)s %(noun)s(s).", changed
        )
        modeladmin.message_user(request, message % {"count": changed, "noun": noun})

    return enable, disable


class MaskedJSONField(forms.CharField):
    """Env or headers as JSON whose values are shown as "***" and never sent to the browser.

    Submitted values of "***" keep the stored value of that key; an empty box
    keeps everything stored.
    """

    widget = forms.Textarea(attrs={"rows": 3, "cols": 80, "autocomplete": "off"})

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def prepare_value(self, value):
        # Also for the text a failed submit re-displays: it may hold secrets too.
        if isinstance(value, str):
            try:
                value = (
                    loads_limited(value, max_depth=settings.HUB_JSON_MAX_DEPTH, max_bytes=None)
                    if value.strip()
                    else ""
                )
            except JsonInputError:
                return ""  # unparsable or too deep: shown empty (blank keeps what is stored)
        if isinstance(value, dict):
            return json.dumps(mask_mapping(value), ensure_ascii=False) if value else ""
        if isinstance(value, list):
            masked = [mask_upstream_url(v) if isinstance(v, str) else "" for v in value]
            return json.dumps(masked, ensure_ascii=False) if value else ""
        return ""


class DeleteThroughServiceMixin:
    """Admin deletes (one row or a selection) go through `delete_service(pk)`, so each
    reaches the running pool like any other write."""

    def delete_service(self, pk: int) -> None:
        raise NotImplementedError

    def delete_model(self, request, obj) -> None:
        self.delete_service(obj.pk)

    def delete_queryset(self, request, queryset) -> None:
        for pk in list(queryset.values_list("pk", flat=True)):
            self.delete_service(pk)


class SecretFieldsMixin:
    """Leaves `secret_fields` off the page of a user who may not edit the row (a viewer):
    Django would show their stored values as read-only text. The masked forms stay
    (readonly_fields). `hidden_fields` can hide more."""

    secret_fields: tuple[str, ...] = ()

    def hidden_fields(self, request, obj=None) -> set[str]:
        if obj is not None:
            editable = self.has_change_permission(request, obj)
        else:
            editable = self.has_add_permission(request)
        return set() if editable else set(self.secret_fields)

    def get_fieldsets(self, request, obj=None):
        hidden = self.hidden_fields(request, obj)
        fieldsets = []
        for name, options in super().get_fieldsets(request, obj):
            fields = [f for f in options["fields"] if f not in hidden]
            if fields:
                fieldsets.append((name, {**options, "fields": fields}))
        return fieldsets
