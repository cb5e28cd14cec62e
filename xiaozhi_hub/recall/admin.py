"""The admin: an endpoint is linked to an agent here (which agent's history its
assistant may look up with the history__* tools). A save or a delete tells the
running pool at once (services.py's reload): the endpoint's tool list changes
without a restart."""

from __future__ import annotations

from django.contrib import admin
from django.db import transaction
from django.utils.translation import gettext_lazy as _

from endpoints.pool_requests.reload import pool_notify_changed

from .models import HistoryAccess


def agent_label(agent) -> str:
    """An agent as the admin's choice lists show it: its source first (two servers
    may hold agents with the same name and id)."""
    return f"{agent.source}: {agent.name or agent.agent_id} ({agent.agent_id})"


@admin.register(HistoryAccess)
class HistoryAccessAdmin(admin.ModelAdmin):
    list_display = ("endpoint", "agent_shown", "enabled", "max_rows", "max_chars", "days")
    list_filter = ("enabled", "agent__source")
    search_fields = ("endpoint__name", "agent__name", "agent__agent_id")
    list_select_related = ("endpoint", "agent")
    fieldsets = (
        (None, {"fields": ("endpoint", "agent", "enabled")}),
        (_("Limits"), {"fields": ("max_rows", "max_chars", "days")}),
    )

    @admin.display(description=_("agent"), ordering="agent__name")
    def agent_shown(self, obj: HistoryAccess) -> str:
        return agent_label(obj.agent)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "agent" and field is not None:
            field.label_from_instance = agent_label
        return field

    def save_model(self, request, obj, form, change) -> None:
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            pool_notify_changed()

    def delete_model(self, request, obj) -> None:
        with transaction.atomic():
            super().delete_model(request, obj)
            pool_notify_changed()

    def delete_queryset(self, request, queryset) -> None:
        with transaction.atomic():
            super().delete_queryset(request, queryset)
            pool_notify_changed()
