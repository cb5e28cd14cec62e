"""Read-only views of the copied history, the sync runs, and the two sync actions."""

from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .. import services
from ..models import (
    ChatMessage,
    ChatSession,
    Device,
    SkippedRow,
    Source,
    SyncGap,
    SyncRun,
    SyncState,
)


class SourceFilter(admin.SimpleListFilter):
    """By source: the choices are the Source rows (no DISTINCT over millions of messages)."""

    title = _("source")
    parameter_name = "source"

    def lookups(self, request, model_admin):
        return [(s.key, str(s)) for s in Source.objects.order_by("key")]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(source=value) if value else queryset


class ReadOnlyAdmin(admin.ModelAdmin):
    """The history is a copy of the source: edits belong there, not here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Device)
class DeviceAdmin(ReadOnlyAdmin):
    list_display = ("mac", "source", "alias", "board", "agent", "message_count", "last_message_at")
    list_filter = (SourceFilter, "board", "agent")
    search_fields = ("mac", "alias", "board")
    list_select_related = ("agent",)


@admin.register(ChatSession)
class ChatSessionAdmin(ReadOnlyAdmin):
    list_display = (
        "session_id",
        "title",
        "device",
        "message_count",
        "started_at",
        "last_message_at",
    )
    list_filter = (SourceFilter, "agent")
    search_fields = ("session_id", "title", "device__mac", "device__alias")
    list_select_related = ("device",)
    date_hierarchy = "last_message_at"


@admin.register(ChatMessage)
class ChatMessageAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "device",
        "role",
        "short_content",
        "origin",
        "source",
        "source_id",
    )
    list_filter = (SourceFilter, "role", "origin", "agent")
    search_fields = ("content", "device__mac", "session__session_id", "tool_name", "speaker")
    list_select_related = ("device",)
    date_hierarchy = "created_at"
    show_full_result_count = False  # no COUNT(*) over millions of rows per page

    @admin.display(description=_("content"))
    def short_content(self, obj):
        return obj.content[:80]


@admin.register(SyncRun)
class SyncRunAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "started_at",
        "finished_at",
        "status",
        "trigger",
        "full",
        "rows_read",
        "rows_written",
        "rows_skipped",
        "short_error",
    )
    list_filter = (SourceFilter, "status", "trigger", "full")

    @admin.display(description=_("error"))
    def short_error(self, obj):
        return obj.error[:100]


@admin.register(SkippedRow)
class SkippedRowAdmin(ReadOnlyAdmin):
    list_display = ("source", "source_id", "reason", "run", "recorded_at")
    search_fields = ("reason",)


@admin.register(SyncGap)
class SyncGapAdmin(ReadOnlyAdmin):
    list_display = ("source", "first_id", "last_id", "seen_at")


@admin.register(SyncState)
class SyncStateAdmin(ReadOnlyAdmin):
    list_display = (
        "source",
        "status",
        "cursor",
        "last_success_at",
        "last_run_at",
        "rows_written_total",
        "last_error",
    )
    actions = ["sync_now", "resync_from_scratch"]

    @admin.action(description=_("Sync now"))
    def sync_now(self, request, queryset):
        self._queue(request, queryset, full=False)

    @admin.action(description=_("Resync from scratch (re-read every source row)"))
    def resync_from_scratch(self, request, queryset):
        if request.POST.get("confirmed") != "yes":
            context = {
                **self.admin_site.each_context(request),
                "title": gettext("Resync chat history from scratch?"),
                "queryset": queryset,
                "action": "resync_from_scratch",
                "opts": self.model._meta,
                "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/chathistory/confirm_resync.html", context)
        self._queue(request, queryset, full=True)
        return None

    def _queue(self, request, queryset, *, full: bool) -> None:
        """A sync of each selected state's source."""
        for key in queryset.values_list("source", flat=True):
            result = services.sync_request(full=full, source=key)
            if result["queued"]:
                text = (
                    gettext("A full resync of %(key)s was queued; progress shows on the console.")
                    if full
                    else gettext("A sync of %(key)s was queued; progress shows on the console.")
                )
                self.message_user(request, text % {"key": key})
            else:
                text = gettext("Not queued (%(key)s): %(reason)s")
                self.message_user(
                    request, text % {"key": key, "reason": result["reason"]}, messages.WARNING
                )
