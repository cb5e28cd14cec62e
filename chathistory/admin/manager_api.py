"""The manager-api source's per-session state, read-only (docs/manager-api-source.md)."""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from ..models import RemoteSession
from .chat import ReadOnlyAdmin, SourceFilter


class FailedFilter(admin.SimpleListFilter):
    """Sessions whose last fetch failed (retried by a later run) or that are copied."""

    title = _("state")
    parameter_name = "failed"

    def lookups(self, request, model_admin):
        return [("yes", _("failing, retried later")), ("no", _("copied"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(failures__gt=0)
        if self.value() == "no":
            return queryset.filter(failures=0)
        return queryset


@admin.register(RemoteSession)
class RemoteSessionAdmin(ReadOnlyAdmin):
    list_display = (
        "session_id",
        "source",
        "agent_id",
        "title",
        "chat_count",
        "failures",
        "next_retry_at",
        "copied_at",
    )
    list_filter = (SourceFilter, FailedFilter)
    search_fields = ("session_id", "agent_id", "title")
    readonly_fields = (
        "source",
        "agent_id",
        "session_id",
        "title",
        "chat_count",
        "remote_created_at",
        "failures",
        "last_error",
        "next_retry_at",
        "copied_at",
        "updated_at",
    )
    ordering = ("-updated_at",)
