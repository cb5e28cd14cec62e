"""Admin of the upstream MCP servers (secrets write-only), their tools and the call log.

A stdio server runs a command on the worker: adding or changing one (or what it
runs) needs endpoints.run_commands. Without it the stdio fields are hidden,
stdio servers are read-only and a form that would make one is refused. Every
server change is written to the audit log with its values, secrets masked.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from endpoints.admin.common import (
    DeleteThroughServiceMixin,
    MaskedJSONField,
    SecretFieldsMixin,
    SecretUrlForm,
    enable_actions,
    secret_url_field,
)
from endpoints.mcp_server_audit import SERVER_AUDIT_MASKS
from endpoints.mcp_server_secrets import unmask_mapping, unmask_urls
from endpoints.models import McpServer, Tool, ToolCall
from endpoints.selectors.mcp_server import mcp_server_queryset, tool_shadowed_by, tools_with_clashes
from endpoints.services.mcp_server import (
    COMMAND_FIELDS,
    SERVER_FIELDS,
    TOOL_FIELDS,
    mcp_server_delete,
    mcp_server_runs_commands,
    mcp_server_save,
    mcp_server_set_enabled,
    mcp_servers_refresh,
    tool_set_enabled,
    tool_update,
)
from xiaozhi_hub.access import audit
from xiaozhi_hub.access.roles import RUN_COMMANDS

STDIO_FIELDS = (*COMMAND_FIELDS, "replicas")
SECRET_FIELDS = ("url", "headers", "replica_urls", *STDIO_FIELDS)
NO_COMMANDS = (
    "Only users with the permission to run commands (endpoints.run_commands, held by Hub "
    "administrators) may add or change a stdio MCP server or what it runs."
)


class McpServerForm(SecretUrlForm):
    url_required = False  # stdio servers have none
    url = secret_url_field(
        "sse / streamable-http: the server's URL. Kept secret: leave blank to keep the current URL."
    )
    env = MaskedJSONField(
        help_text='stdio: {"NAME": "value"}. Values are secrets and shown as ***: leave *** '
        "to keep a value, empty the box to keep them all, {} to remove them."
    )
    headers = MaskedJSONField(
        help_text='sse / streamable-http: {"Authorization": "Bearer ..."}. Shown as ***: '
        "leave *** to keep a value, empty the box to keep them all, {} to remove them."
    )
    replica_urls = MaskedJSONField(
        label="Replica URLs",
        help_text='sse / streamable-http: ["https://...", ...] more URLs offering the same '
        "tools. Shown masked: a masked entry keeps its stored URL.",
    )

    # Set per request by McpServerAdmin.get_form: whether the user may run commands.
    may_run_commands = True

    class Meta:
        model = McpServer
        fields = SERVER_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.may_run_commands and self.instance.pk is None and "transport" in self.fields:
            # A new server is stdio by default; theirs starts as a URL server.
            url_transport = self.fields["transport"].choices[0][0]
            self.instance.transport = self.initial["transport"] = url_transport

    def clean(self):
        cleaned = super().clean()
        if not self.may_run_commands:
            data = {f: cleaned[f] for f in ("transport", *COMMAND_FIELDS) if f in cleaned}
            server = self.instance if self.instance.pk else None
            if mcp_server_runs_commands(server=server, data=data):
                raise forms.ValidationError(NO_COMMANDS, code="run_commands")
        return cleaned

    def _json(self, name: str, kind: type):
        text = (self.cleaned_data.get(name) or "").strip()
        if not text:
            return None  # keep what is stored
        try:
            value = json.loads(text)
        except ValueError:
            # The text may hold secrets: say where, never repeat it.
            raise forms.ValidationError("not valid JSON") from None
        if not isinstance(value, kind):
            raise forms.ValidationError(f"must be a JSON {kind.__name__.replace('dict', 'object')}")
        return value

    def _clean_mapping(self, name: str) -> dict:
        stored = getattr(self.instance, name) or {} if self.instance.pk else {}
        value = self._json(name, dict)
        return stored if value is None else unmask_mapping(value, stored)

    def clean_env(self) -> dict:
        return self._clean_mapping("env")

    def clean_headers(self) -> dict:
        return self._clean_mapping("headers")

    def clean_replica_urls(self) -> list:
        stored = list(self.instance.replica_urls or []) if self.instance.pk else []
        value = self._json("replica_urls", list)
        return stored if value is None else unmask_urls(value, stored)


class ToolInline(admin.TabularInline):
    model = Tool
    extra = 0
    can_delete = False
    fields = ("exposed_name", "enabled", "available", "usage_count", "last_used_at", "last_error")
    readonly_fields = fields
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(McpServer)
class McpServerAdmin(SecretFieldsMixin, DeleteThroughServiceMixin, admin.ModelAdmin):
    form = McpServerForm
    secret_fields = SECRET_FIELDS
    list_display = ("name", "transport", "enabled", "state", "tools_column", "masked_target")
    list_filter = ("transport", "enabled", "state")
    search_fields = ("name",)
    actions = ("enable", "disable", "refresh_tools")
    readonly_fields = ("masked_target", "live_status", "tools_link")
    inlines = (ToolInline,)
    fieldsets = (
        (None, {"fields": ("name", "transport", "enabled", "masked_target")}),
        ("stdio", {"fields": ("command", "args", "env", "cwd", "replicas")}),
        ("sse / streamable-http", {"fields": ("url", "headers", "replica_urls")}),
        ("Calls", {"fields": ("call_timeout", "load_balance")}),
        ("Live status", {"fields": ("live_status", "tools_link")}),
    )

    def get_queryset(self, request):
        return mcp_server_queryset()

    # --- the right to run commands ----------------------------------------------
    @staticmethod
    def may_run_commands(request) -> bool:
        return request.user.has_perm(RUN_COMMANDS)

    def has_change_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.transport == "stdio" and not self.may_run_commands(request):
            return False  # shown read-only, like to a viewer
        return super().has_change_permission(request, obj)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.may_run_commands = self.may_run_commands(request)
        if not form.may_run_commands and "transport" in form.base_fields:
            transport = form.base_fields["transport"]
            transport.choices = [c for c in transport.choices if c[0] != "stdio"]
        return form

    def hidden_fields(self, request, obj=None) -> set[str]:
        hidden = super().hidden_fields(request, obj)
        return hidden if self.may_run_commands(request) else hidden | set(STDIO_FIELDS)

    # --- the audit log: values, secrets masked ------------------------------------
    def construct_change_message(self, request, form, formsets, add=False):
        after = audit.field_values(form.instance, SERVER_FIELDS)
        if add:
            values = audit.describe_values(after, masks=SERVER_AUDIT_MASKS)
            return f"Added via {audit.VIA_ADMIN}: {values}."
        before = {f: form.initial.get(f) for f in SERVER_FIELDS}
        changes = audit.describe_changes(before, after, masks=SERVER_AUDIT_MASKS)
        return f"Changed via {audit.VIA_ADMIN}: {changes or 'nothing'}."

    @admin.display(description="tools (enabled/total)")
    def tools_column(self, obj: McpServer) -> str:
        return f"{obj.tool_enabled}/{obj.tool_total}"

    @admin.display(description="target")
    def masked_target(self, obj: McpServer) -> str:
        return obj.masked_target if obj.pk else "-"

    @admin.display(description="tools")
    def tools_link(self, obj: McpServer) -> str:
        if not obj.pk:
            return "-"
        url = reverse("admin:endpoints_tool_changelist") + f"?server__id__exact={obj.pk}"
        return format_html('<a href="{}">Edit the tools of {}</a>', url, obj.name)

    @admin.display(description="live status")
    def live_status(self, obj: McpServer) -> str:
        if not obj.pk:
            return "-"
        status = obj.status or {}
        rows = [
            ("state", obj.state or "-"),
            ("tools listed", status.get("tool_count", "-")),
            ("last error", obj.last_error or "-"),
            ("updated", obj.status_updated_at or "-"),
        ]
        replicas = [
            (
                r.get("index"),
                r.get("label", ""),
                r.get("state", ""),
                r.get("pid") or "-",
                "-" if r.get("latency_ms") is None else f"{r['latency_ms']:.1f} ms",
                r.get("recent_errors", 0),
                r.get("restarts", 0),
                r.get("last_error") or "-",
            )
            for r in status.get("replicas", [])
        ]
        return format_html(
            "<table>{}</table><table><tr><th>replica</th><th>target</th><th>state</th>"
            "<th>pid</th><th>latency</th><th>recent errors</th><th>restarts</th>"
            "<th>last error</th></tr>{}</table>",
            format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows),
            format_html_join("", "<tr>" + "<td>{}</td>" * 8 + "</tr>", replicas),
        )

    def save_model(self, request, obj, form, change) -> None:
        mcp_server_save(server=obj)

    def delete_service(self, pk: int) -> None:
        mcp_server_delete(server_id=pk)

    @admin.action(description="Enable", permissions=["change"])
    def enable(self, request, queryset) -> None:
        self._set_enabled(request, queryset, True)

    @admin.action(description="Disable", permissions=["change"])
    def disable(self, request, queryset) -> None:
        self._set_enabled(request, queryset, False)

    def _set_enabled(self, request, queryset, enabled: bool) -> None:
        if not self.may_run_commands(request):
            skipped = queryset.filter(transport="stdio").count()
            if skipped:
                self.message_user(
                    request, f"{skipped} stdio server(s) left: {NO_COMMANDS}", messages.ERROR
                )
            queryset = queryset.exclude(transport="stdio")
        servers = list(queryset.exclude(enabled=enabled))
        changed = mcp_server_set_enabled(server_ids=[s.pk for s in servers], enabled=enabled)
        for server in servers:
            audit.audit_change(
                user=request.user,
                obj=server,
                via=audit.VIA_ADMIN,
                before={"enabled": not enabled},
                after={"enabled": enabled},
            )
        verb = "Enabled" if enabled else "Disabled"
        self.message_user(request, f"{verb} {changed} MCP server(s).")

    @admin.action(description="Refresh tools now", permissions=["change"])
    def refresh_tools(self, request, queryset) -> None:
        mcp_servers_refresh()
        self.message_user(request, "The pool workers were asked to re-read servers and tools.")


@admin.register(Tool)
class ToolAdmin(admin.ModelAdmin):
    list_display = (
        "exposed_name",
        "server",
        "enabled",
        "available",
        "usage_count",
        "last_used_at",
        "last_error",
        "clash",
        "description_override",
    )
    list_editable = ("enabled", "description_override")
    list_filter = ("server", "enabled", "available")
    search_fields = ("exposed_name", "upstream_name", "description")
    list_select_related = ("server",)
    actions = ("enable", "disable")
    fields = (
        "exposed_name",
        "server",
        "upstream_name",
        "enabled",
        "available",
        "description",
        "description_override",
        "timeout",
        "input_schema",
        "usage_count",
        "last_used_at",
        "last_error",
        "last_error_at",
    )
    readonly_fields = (
        "exposed_name",
        "server",
        "upstream_name",
        "available",
        "description",
        "input_schema",
        "usage_count",
        "last_used_at",
        "last_error",
        "last_error_at",
    )

    def has_add_permission(self, request) -> bool:
        return False  # tools come from the servers' listings (or an import)

    def get_queryset(self, request):
        return tools_with_clashes()

    @admin.display(description="name clash")
    def clash(self, tool: Tool) -> str:
        shadowed_by = tool_shadowed_by(tool)
        return f"not offered: {shadowed_by!r} has this name" if shadowed_by else ""

    def save_model(self, request, obj, form, change) -> None:
        tool_update(
            tool_id=obj.pk,
            data={f: form.cleaned_data[f] for f in form.changed_data if f in TOOL_FIELDS},
        )

    enable, disable = enable_actions(
        lambda ids, on: tool_set_enabled(tool_ids=ids, enabled=on), "tool"
    )


@admin.register(ToolCall)
class ToolCallAdmin(admin.ModelAdmin):
    list_display = ("at", "tool", "outcome", "duration", "endpoint", "server", "failovers", "error")
    list_filter = ("outcome", "server")
    search_fields = ("tool",)
    list_select_related = ("endpoint", "server")
    ordering = ("-id",)

    @admin.display(description="duration", ordering="duration_ms")
    def duration(self, obj: ToolCall) -> str:
        return f"{obj.duration_ms:.1f} ms"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
