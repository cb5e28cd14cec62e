"""Admin of custom tools and platforms (secrets write-only).

A custom tool's handler is edited as JSON in xiaozhi-client's shape; it is shown
with its secrets (auth tokens, passwords, API keys, header and env values, URL
keys) as "***", and a "***" sent back keeps the stored value. A `script` tool
runs a command on the worker: adding, changing or deleting one needs
endpoints.run_commands; without it script tools are read-only and a form that
would make one is refused. Every change is in the audit log, secrets masked.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from endpoints.admin.common import DeleteThroughServiceMixin, SecretFieldsMixin
from endpoints.admin.tool_try import json_value
from endpoints.custom_tool_shape import (
    CUSTOM_TOOL_AUDIT_MASKS,
    PLATFORM_AUDIT_MASKS,
    mask_handler,
    mask_platform_settings,
    unmask_handler,
    unmask_platform_settings,
)
from endpoints.models import CustomTool, Platform
from endpoints.services.custom_tool import (
    CUSTOM_TOOL_FIELDS,
    PLATFORM_FIELDS,
    custom_tool_check,
    custom_tool_delete,
    custom_tool_runs_commands,
    custom_tool_save,
    custom_tool_set_enabled,
    platform_delete,
    platform_save,
)
from xiaozhi_hub.access import audit
from xiaozhi_hub.access.roles import RUN_COMMANDS

NO_SCRIPTS = _(
    "Only users with the permission to run commands (endpoints.run_commands, held by Hub "
    "administrators) may add, change or delete a script tool."
)


def audit_message(form, fields, masks, *, add: bool) -> str:
    """The admin's audit entry of a save: the values (or what changed), secrets masked."""
    after = audit.field_values(form.instance, fields)
    if add:
        return f"Added via {audit.VIA_ADMIN}: {audit.describe_values(after, masks=masks)}."
    before = {f: form.initial.get(f) for f in fields}
    changes = audit.describe_changes(before, after, masks=masks)
    return f"Changed via {audit.VIA_ADMIN}: {changes or 'nothing'}."


class JsonBoxField(forms.CharField):
    """A JSON object in a text box, parsed depth- and size-limited (errors never repeat
    the text). `mask` turns the stored value into what the browser may see."""

    widget = forms.Textarea(attrs={"rows": 8, "cols": 80, "autocomplete": "off"})

    def __init__(self, *args, mask=None, **kwargs):
        kwargs.setdefault("required", False)
        self.mask = mask
        super().__init__(*args, **kwargs)

    def prepare_value(self, value):
        if isinstance(value, str):  # a failed submit: re-parse, so secrets stay masked
            try:
                value = json_value(value) if value.strip() else {}
            except forms.ValidationError:
                return ""
        if not isinstance(value, dict):
            return ""
        shown = self.mask(value) if self.mask else value
        return json.dumps(shown, ensure_ascii=False, indent=2)

    def to_python(self, value) -> dict:
        text = (value or "").strip()
        if not text:
            return {}
        parsed = json_value(text)
        if not isinstance(parsed, dict):
            raise forms.ValidationError(gettext("must be a JSON object"), code="type")
        return parsed


class CustomToolForm(forms.ModelForm):
    input_schema = JsonBoxField(
        label=_("Input schema"),
        help_text=_('JSON Schema of the arguments, e.g. {"type": "object", "properties": {}}.'),
    )
    handler = JsonBoxField(
        label=_("Handler"),
        mask=mask_handler,
        help_text=_(
            "The handler as xiaozhi-client writes it, with its type (http, proxy, mcp, chain, "
            "script, function). Secrets are shown as ***: leave *** to keep a stored value."
        ),
    )

    # Set per request by CustomToolAdmin.get_form: whether the user may run commands.
    may_run_commands = True

    class Meta:
        model = CustomTool
        fields = CUSTOM_TOOL_FIELDS

    def clean_handler(self) -> dict:
        value = self.cleaned_data.get("handler") or {}
        stored = self.instance.handler if self.instance.pk else {}
        return unmask_handler(value, stored or {})

    def clean(self):
        cleaned = super().clean()
        if not self.may_run_commands:
            tool = self.instance if self.instance.pk else None
            data = {k: cleaned.get(k) for k in ("kind", "handler") if cleaned.get(k)}
            if custom_tool_runs_commands(tool=tool, data=data):
                raise forms.ValidationError(NO_SCRIPTS, code="run_commands")
        return cleaned

    def _post_clean(self):
        super()._post_clean()
        try:
            custom_tool_check(self.instance)
        except ValidationError as exc:
            self._update_errors(exc)


@admin.register(CustomTool)
class CustomToolAdmin(SecretFieldsMixin, DeleteThroughServiceMixin, admin.ModelAdmin):
    form = CustomToolForm
    secret_fields = ("handler",)
    list_display = ("name", "kind", "enabled", "disabled_reason", "usage_count", "last_used_at")
    list_filter = ("kind", "enabled")
    search_fields = ("name", "description")
    readonly_fields = (
        "masked_handler",
        "disabled_reason",
        "usage_count",
        "last_used_at",
        "last_error",
        "last_error_at",
    )
    fieldsets = (
        (None, {"fields": ("name", "kind", "enabled", "disabled_reason", "description")}),
        (_("Handler"), {"fields": ("input_schema", "handler", "masked_handler", "timeout")}),
        (_("Usage"), {"fields": ("usage_count", "last_used_at", "last_error", "last_error_at")}),
    )
    actions = ("enable", "disable")

    @staticmethod
    def may_run_commands(request) -> bool:
        return request.user.has_perm(RUN_COMMANDS)

    def has_change_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.runs_commands and not self.may_run_commands(request):
            return False  # shown read-only, like to a viewer
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.runs_commands and not self.may_run_commands(request):
            return False
        return super().has_delete_permission(request, obj)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.may_run_commands = self.may_run_commands(request)
        return form

    def hidden_fields(self, request, obj=None) -> set[str]:
        hidden = super().hidden_fields(request, obj)
        # The read-only copy is for those who cannot edit; editors have the box.
        return hidden if hidden else hidden | {"masked_handler"}

    @admin.display(description=_("handler"))
    def masked_handler(self, obj: CustomTool) -> str:
        return json.dumps(mask_handler(obj.handler or {}), ensure_ascii=False) if obj.pk else "-"

    def construct_change_message(self, request, form, formsets, add=False):
        return audit_message(form, CUSTOM_TOOL_FIELDS, CUSTOM_TOOL_AUDIT_MASKS, add=add)

    def save_model(self, request, obj, form, change) -> None:
        custom_tool_save(tool=obj)

    def delete_service(self, pk: int) -> None:
        custom_tool_delete(tool_id=pk)

    def delete_queryset(self, request, queryset) -> None:
        if not self.may_run_commands(request):
            queryset = queryset.exclude(kind="script")
        super().delete_queryset(request, queryset)

    @admin.action(description=_("Enable"), permissions=["change"])
    def enable(self, request, queryset) -> None:
        self._set_enabled(request, queryset, True)

    @admin.action(description=_("Disable"), permissions=["change"])
    def disable(self, request, queryset) -> None:
        self._set_enabled(request, queryset, False)

    def _set_enabled(self, request, queryset, enabled: bool) -> None:
        if not self.may_run_commands(request):
            skipped = queryset.filter(kind="script").count()
            if skipped:
                self.message_user(request, NO_SCRIPTS, messages.ERROR)
            queryset = queryset.exclude(kind="script")
        tools = list(queryset.exclude(enabled=enabled))
        changed = custom_tool_set_enabled(tool_ids=[t.pk for t in tools], enabled=enabled)
        for tool in tools:
            if tool.kind != "function" or not enabled:
                audit.audit_change(
                    user=request.user,
                    obj=tool,
                    via=audit.VIA_ADMIN,
                    before={"enabled": not enabled},
                    after={"enabled": enabled},
                )
        done = (
            ngettext("Enabled %(count)s custom tool.", "Enabled %(count)s custom tools.", changed)
            if enabled
            else ngettext(
                "Disabled %(count)s custom tool.", "Disabled %(count)s custom tools.", changed
            )
        )
        self.message_user(request, done % {"count": changed})


class PlatformForm(forms.ModelForm):
    settings = JsonBoxField(
        label=_("Settings"),
        mask=mask_platform_settings,
        help_text=_(
            'For Coze: {"token": "pat_...", "baseUrl": "https://api.coze.cn"}. The token is '
            "shown as ***: leave *** to keep it."
        ),
    )

    class Meta:
        model = Platform
        fields = PLATFORM_FIELDS

    def clean_settings(self) -> dict:
        value = self.cleaned_data.get("settings") or {}
        stored = self.instance.settings if self.instance.pk else {}
        return unmask_platform_settings(value, stored or {})


@admin.register(Platform)
class PlatformAdmin(SecretFieldsMixin, DeleteThroughServiceMixin, admin.ModelAdmin):
    form = PlatformForm
    secret_fields = ("settings",)
    list_display = ("name", "updated_at")
    readonly_fields = ("masked_settings",)
    fields = ("name", "settings", "masked_settings")

    def hidden_fields(self, request, obj=None) -> set[str]:
        hidden = super().hidden_fields(request, obj)
        return hidden if hidden else {"masked_settings"}

    def get_fieldsets(self, request, obj=None):
        hidden = self.hidden_fields(request, obj)
        return [(None, {"fields": [f for f in self.fields if f not in hidden]})]

    @admin.display(description=_("settings"))
    def masked_settings(self, obj: Platform) -> str:
        return json.dumps(mask_platform_settings(obj.settings), ensure_ascii=False)

    def construct_change_message(self, request, form, formsets, add=False):
        return audit_message(form, PLATFORM_FIELDS, PLATFORM_AUDIT_MASKS, add=add)

    def save_model(self, request, obj, form, change) -> None:
        platform_save(platform=obj)

    def delete_service(self, pk: int) -> None:
        platform_delete(platform_id=pk)
