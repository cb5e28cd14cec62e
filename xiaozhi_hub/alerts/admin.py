"""The admin: rules are edited here; alerts are read here and acknowledged or silenced
with the list's actions (operators: alerts.change_alert). An alert's fields are
the evaluator's record and stay read-only."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext_lazy

from xiaozhi_hub.access import audit

from . import kinds, services
from .models import Alert, AlertRule


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "kind",
        "enabled",
        "severity",
        "params",
        "for_minutes",
        "reminder_hours",
        "flap_minutes",
    )
    list_filter = ("enabled", "kind", "severity")
    search_fields = ("name", "description")
    readonly_fields = ("parameters_of_each_kind",)
    fieldsets = (
        (None, {"fields": ("name", "kind", "enabled", "severity", "description")}),
        (_("Condition"), {"fields": ("params", "parameters_of_each_kind", "for_minutes")}),
        (_("Notifications"), {"fields": ("reminder_hours", "flap_minutes")}),
    )

    @admin.display(description=_("parameters of each kind"))
    def parameters_of_each_kind(self, obj=None):
        return format_html_join(
            "",
            "<p><b>{}</b>: {}</p>",
            ((kind, kinds.params_help(kind)) for kind, _label in kinds.KIND_CHOICES),
        )


def _act(modeladmin, request, queryset, action, done: str, shown: str, **arguments) -> None:
    """`done` goes to the audit log (English, like every log); `shown` (a plural message
    with %(count)s) is what the person who acted reads."""
    changed, refused = 0, []
    for alert in queryset:
        try:
            action(alert_id=alert.pk, **arguments)
        except services.AlertActionError as exc:
            refused.append(str(exc))
            continue
        changed += 1
        audit.audit_action(
            user=request.user,
            model="alerts.alert",
            object_id=alert.pk,
            object_repr=str(alert),
            via=audit.VIA_ADMIN,
            action=done,
        )
    if changed:
        modeladmin.message_user(request, shown % {"count": changed})
    for reason in refused:
        modeladmin.message_user(request, reason, level=messages.WARNING)


# What the actions tell the person who acted.
ACKNOWLEDGED = ngettext_lazy(
    "%(count)s alert acknowledged.", "%(count)s alerts acknowledged.", "count"
)
SILENCED_1H = ngettext_lazy(
    "%(count)s alert silenced for 1 hour.", "%(count)s alerts silenced for 1 hour.", "count"
)
SILENCED_24H = ngettext_lazy(
    "%(count)s alert silenced for 24 hours.", "%(count)s alerts silenced for 24 hours.", "count"
)
LIFTED = ngettext_lazy(
    "Silence lifted for %(count)s alert.", "Silence lifted for %(count)s alerts.", "count"
)


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "rule",
        "subject_label",
        "state",
        "severity",
        "fired_at",
        "resolved_at",
        "acknowledged_by",
        "silenced_until",
        "flap_count",
        "reminder_count",
    )
    list_filter = ("state", "severity", "rule")
    search_fields = ("subject", "subject_label", "message")
    date_hierarchy = "fired_at"
    list_select_related = ("rule", "acknowledged_by")
    actions = ("acknowledge", "silence_1h", "silence_24h", "lift_silence")

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False  # alerts are the evaluator's record

    @admin.action(description=_("Acknowledge (no more reminders)"), permissions=["change"])
    def acknowledge(self, request, queryset) -> None:
        _act(
            self,
            request,
            queryset,
            services.alert_acknowledge,
            "Acknowledged",
            ACKNOWLEDGED,
            user=request.user,
        )

    @admin.action(description=_("Silence for 1 hour"), permissions=["change"])
    def silence_1h(self, request, queryset) -> None:
        _act(
            self,
            request,
            queryset,
            services.alert_silence,
            "Silenced for 60 min",
            SILENCED_1H,
            minutes=60,
        )

    @admin.action(description=_("Silence for 24 hours"), permissions=["change"])
    def silence_24h(self, request, queryset) -> None:
        _act(
            self,
            request,
            queryset,
            services.alert_silence,
            "Silenced for 1440 min",
            SILENCED_24H,
            minutes=1440,
        )

    @admin.action(description=_("Lift the silence"), permissions=["change"])
    def lift_silence(self, request, queryset) -> None:
        _act(self, request, queryset, services.alert_silence, "Silence lifted", LIFTED, minutes=0)
