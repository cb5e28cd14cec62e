"""Admin of the upstream MCP servers (secrets write-only), their tools and the call log.

A stdio server runs a command on the worker: adding or changing one (or what it
runs) needs endpoints.run_commands. Without it the stdio fields are hidden,
stdio servers are read-only and a form that would make one is refused. Every
server change is written to the audit log with its values, secrets masked.

The server page shows the stdio or the URL fields as the transport says
(static/hub-admin/mcp-server.js); a tool's page edits its description override,
shows its numbers from the call log and has a "Try it" form (admin/tool_try.py)
that calls it through the pool, as POST /api/tools/call does.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.formats import date_format
from django.utils.functional import lazy
from django.utils.html import escape, format_html, format_html_join
from django.utils.timezone import localtime
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from endpoints.admin.common import (
    DeleteThroughServiceMixin,
    MaskedJSONField,
    SecretFieldsMixin,
    SecretUrlForm,
    enable_actions,
    secret_url_field,
)
from endpoints.admin.tool_try import ToolTryForm, describe_reply, json_value
from endpoints.mcp_server_audit import SERVER_AUDIT_MASKS
from endpoints.mcp_server_secrets import unmask_mapping, unmask_urls
from endpoints.models import McpServer, Tool, ToolCall
from endpoints.pool_requests.tool_call import tool_call
from endpoints.selectors.mcp_server import mcp_server_queryset, tool_shadowed_by, tools_with_clashes
from endpoints.selectors.tool_stats import tool_call_stats, with_call_stats
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
NO_COMMANDS = _(
    "Only users with the permission to run commands (endpoints.run_commands, held by Hub "
    "administrators) may add or change a stdio MCP server or what it runs."
)
TOOL_CALL = "endpoints.add_toolcall"  # the permission of POST /api/tools/call: the tool runs


def _escaped(text) -> str:
    """A help text as text: the admin prints help texts as HTML, where "<name>" vanishes."""
    return lazy(lambda: escape(str(text)), str)()


def _model_help_texts(model) -> dict:
    return {
        f.name: _escaped(f.help_text)
        for f in model._meta.get_fields()
        if getattr(f, "help_text", "")
    }


def _when(moment) -> str:
    return date_format(localtime(moment), "DATETIME_FORMAT") if moment else "-"


class ArgsField(forms.CharField):
    """A stdio server's arguments: one per line, or a JSON array of strings (a first
    character "[" says JSON). Both give the same list; bad JSON is a form error that
    never repeats the text (arguments may hold secrets)."""

    widget = forms.Textarea(attrs={"rows": 4, "cols": 80, "autocomplete": "off"})

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("strip", False)
        super().__init__(**kwargs)

    @staticmethod
    def needs_json(args: list) -> bool:
        return any(
            not isinstance(a, str) or not a or a != a.strip() or "\n" in a or "\r" in a
            for a in args
        ) or bool(args and args[0].startswith("["))

    def prepare_value(self, value):
        if isinstance(value, str):  # a failed submit shows the text as typed
            return value
        if isinstance(value, list | tuple):
            args = list(value)
            return (
                json.dumps(args, ensure_ascii=False) if self.needs_json(args) else "\n".join(args)
            )
        return ""

    def to_python(self, value) -> list[str]:
        text = (value or "").strip()
        if not text:
            return []
        if text.startswith("["):
            parsed = json_value(text)
            if not isinstance(parsed, list) or not all(isinstance(a, str) for a in parsed):
                raise forms.ValidationError(
                    gettext(
                        'as JSON, the arguments must be an array of strings, e.g. ["-m", "server"]'
                    ),
                    code="type",
                )
            return parsed
        return [line.strip() for line in text.splitlines() if line.strip()]

    def has_changed(self, initial, data) -> bool:
        try:
            return list(initial or []) != self.to_python(data)
        except forms.ValidationError:
            return True


class McpServerForm(SecretUrlForm):
    url_required = False  # stdio servers have none
    url = secret_url_field(
        _(
            "sse / streamable-http: the server's URL. Kept secret: leave blank to keep the "
            "current URL."
        )
    )
    args = ArgsField(
        label=_("Arguments"),
        help_text=_(
            "stdio: the program's arguments, one per line, or a JSON array of strings such "
            'as ["-m", "my_server"] (for an empty argument, or one with spaces at its ends: '
            "a line loses them)."
        ),
    )
    env = MaskedJSONField(
        label=_("Environment"),
        help_text=_(
            'stdio: {"NAME": "value"}. Values are secrets and shown as ***: leave *** '
            "to keep a value, empty the box to keep them all, {} to remove them."
        ),
    )
    headers = MaskedJSONField(
        label=_("Headers"),
        help_text=_(
            'sse / streamable-http: {"Authorization": "Bearer ..."}. Shown as ***: '
            "leave *** to keep a value, empty the box to keep them all, {} to remove them."
        ),
    )
    replica_urls = MaskedJSONField(
        label=_("Replica URLs"),
        help_text=_(
            'sse / streamable-http: ["https://...", ...] more URLs offering the same '
            "tools. Shown masked: a masked entry keeps its stored URL."
        ),
    )

    # Set per request by McpServerAdmin.get_form: whether the user may run commands.
    may_run_commands = True

    class Meta:
        model = McpServer
        fields = SERVER_FIELDS
        help_texts = _model_help_texts(McpServer)

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
        # Size- and depth-limited; the error says where, never repeats the text (secrets).
        value = json_value(text)
        if not isinstance(value, kind):
            if kind is dict:
                raise forms.ValidationError(gettext("must be a JSON object"))
            raise forms.ValidationError(gettext("must be a JSON array"))
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
    fields = ("exposed_name", "enabled", "available", "usage_count", "last_used_at")
    readonly_fields = fields
    show_change_link = True
    classes = ("hub-tools-inline",)

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
    # mcp-server.js shows the fieldset of the chosen transport and hides the other.
    fieldsets = (
        (None, {"fields": ("name", "transport", "enabled", "masked_target")}),
        (
            _("Command (stdio)"),
            {
                "fields": ("command", "args", "env", "cwd", "replicas"),
                "classes": ("hub-transport", "hub-transport-stdio"),
            },
        ),
        (
            _("URL (sse / streamable-http)"),
            {
                "fields": ("url", "headers", "replica_urls"),
                "classes": ("hub-transport", "hub-transport-url"),
            },
        ),
        (_("Calls"), {"fields": ("call_timeout", "load_balance")}),
        (_("Live status"), {"fields": ("live_status", "tools_link")}),
    )

    class Media:
        js = ("hub-admin/mcp-server.js",)
        css = {"all": ("hub-admin/mcp.css",)}

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

    @admin.display(description=_("tools (enabled/total)"))
    def tools_column(self, obj: McpServer) -> str:
        return f"{obj.tool_enabled}/{obj.tool_total}"

    @admin.display(description=_("target"))
    def masked_target(self, obj: McpServer) -> str:
        return obj.masked_target if obj.pk else "-"

    @admin.display(description=_("tools"))
    def tools_link(self, obj: McpServer) -> str:
        if not obj.pk:
            return "-"
        url = reverse("admin:endpoints_tool_changelist") + f"?server__id__exact={obj.pk}"
        return format_html(
            '<a href="{}">{}</a>', url, gettext("Edit the tools of %(name)s") % {"name": obj.name}
        )

    @admin.display(description=_("live status"))
    def live_status(self, obj: McpServer) -> str:
        if not obj.pk:
            return "-"
        status = obj.status or {}
        rows = [
            (gettext("state"), obj.state or "-"),
            (gettext("tools listed"), status.get("tool_count", "-")),
            (gettext("last error"), obj.last_error or "-"),
            (gettext("updated"), _when(obj.status_updated_at)),
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
        headings = (
            gettext("replica"),
            gettext("target"),
            gettext("state"),
            gettext("pid"),
            gettext("latency"),
            gettext("recent errors"),
            gettext("restarts"),
            gettext("last error"),
        )
        return format_html(
            '<div class="hub-scroll"><table class="hub-status">{}</table></div>'
            '<div class="hub-scroll"><table class="hub-replicas"><tr>{}</tr>{}</table></div>',
            format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows),
            format_html_join("", "<th>{}</th>", ((h,) for h in headings)),
            format_html_join("", "<tr>" + "<td>{}</td>" * 8 + "</tr>", replicas),
        )

    def save_model(self, request, obj, form, change) -> None:
        mcp_server_save(server=obj)

    def delete_service(self, pk: int) -> None:
        mcp_server_delete(server_id=pk)

    @admin.action(description=_("Enable"), permissions=["change"])
    def enable(self, request, queryset) -> None:
        self._set_enabled(request, queryset, True)

    @admin.action(description=_("Disable"), permissions=["change"])
    def disable(self, request, queryset) -> None:
        self._set_enabled(request, queryset, False)

    def _set_enabled(self, request, queryset, enabled: bool) -> None:
        if not self.may_run_commands(request):
            skipped = queryset.filter(transport="stdio").count()
            if skipped:
                left = ngettext(
                    "%(count)s stdio server left:", "%(count)s stdio servers left:", skipped
                ) % {"count": skipped}
                self.message_user(request, f"{left} {NO_COMMANDS}", messages.ERROR)
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
        if enabled:
            done = ngettext(
                "Enabled %(count)s MCP server.", "Enabled %(count)s MCP servers.", changed
            )
        else:
            done = ngettext(
                "Disabled %(count)s MCP server.", "Disabled %(count)s MCP servers.", changed
            )
        self.message_user(request, done % {"count": changed})

    @admin.action(description=_("Refresh tools now"), permissions=["change"])
    def refresh_tools(self, request, queryset) -> None:
        mcp_servers_refresh()
        self.message_user(
            request, gettext("The pool workers were asked to re-read servers and tools.")
        )


class ToolForm(forms.ModelForm):
    class Meta:
        model = Tool
        fields = ("enabled", "description_override", "timeout")
        help_texts = _model_help_texts(Tool)
        widgets = {"description_override": forms.Textarea(attrs={"rows": 3, "cols": 60})}


@admin.register(Tool)
class ToolAdmin(admin.ModelAdmin):
    """The list stays one line a tool (the description override is edited on the tool's
    page); calls, failure rate and latency come from one aggregate over the call log."""

    form = ToolForm
    list_display = (
        "exposed_name",
        "server",
        "enabled",
        "available",
        "calls_column",
        "failure_rate_column",
        "latency_column",
        "last_used_at",
        "clash",
    )
    list_editable = ("enabled",)
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
        "call_stats",
        "schema",
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
        "call_stats",
        "schema",
        "usage_count",
        "last_used_at",
        "last_error",
        "last_error_at",
    )

    class Media:
        css = {"all": ("hub-admin/mcp.css",)}

    def has_add_permission(self, request) -> bool:
        return False  # tools come from the servers' listings (or an import)

    def get_queryset(self, request):
        return with_call_stats(tools_with_clashes())

    @admin.display(description=_("name clash"))
    def clash(self, tool: Tool) -> str:
        shadowed_by = tool_shadowed_by(tool)
        if not shadowed_by:
            return ""
        return gettext("not offered: %(name)s has this name") % {"name": repr(shadowed_by)}

    # --- numbers from the call log ----------------------------------------------------
    @admin.display(description=_("calls"), ordering="stat_calls")
    def calls_column(self, tool: Tool) -> int:
        return tool_call_stats(tool)["calls"]

    @admin.display(description=_("failure rate"), ordering="stat_failures")
    def failure_rate_column(self, tool: Tool) -> str:
        rate = tool_call_stats(tool)["failureRate"]
        return "-" if rate is None else f"{rate * 100:.1f} %"

    @admin.display(description=_("average latency"))
    def latency_column(self, tool: Tool) -> str:
        average = tool_call_stats(tool)["avgLatencyMs"]
        return "-" if average is None else f"{average:.1f} ms"

    @admin.display(description=_("calls in the log"))
    def call_stats(self, tool: Tool) -> str:
        stats = tool_call_stats(tool)
        if not stats["calls"]:
            return gettext("no calls in the log")
        calls = ngettext("%(count)s call", "%(count)s calls", stats["calls"]) % {
            "count": stats["calls"]
        }
        return gettext("%(calls)s, %(failures)s failed (%(rate)s), average latency %(latency)s") % {
            "calls": calls,
            "failures": stats["failures"],
            "rate": self.failure_rate_column(tool),
            "latency": self.latency_column(tool),
        }

    @admin.display(description=_("input schema"))
    def schema(self, tool: Tool) -> str:
        text = json.dumps(tool.input_schema or {}, ensure_ascii=False, indent=2)
        return format_html('<pre class="hub-pre">{}</pre>', text)

    def save_model(self, request, obj, form, change) -> None:
        tool_update(
            tool_id=obj.pk,
            data={f: form.cleaned_data[f] for f in form.changed_data if f in TOOL_FIELDS},
        )

    enable, disable = enable_actions(
        lambda ids, on: tool_set_enabled(tool_ids=ids, enabled=on), _("tool")
    )

    # --- Try it -------------------------------------------------------------------------
    def get_urls(self):
        return [
            path(
                "<path:object_id>/try/",
                self.admin_site.admin_view(self.try_view),
                name="endpoints_tool_try",
            ),
            *super().get_urls(),
        ]

    @staticmethod
    def may_call(request) -> bool:
        return request.user.has_perm(TOOL_CALL)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        tool = self.get_object(request, unquote(object_id)) if self.may_call(request) else None
        if tool is not None:
            extra_context["try_form"] = ToolTryForm(tool.input_schema)
            extra_context["try_url"] = reverse("admin:endpoints_tool_try", args=[tool.pk])
        return super().change_view(request, object_id, form_url, extra_context)

    def try_view(self, request, object_id: str):
        """POST: call the tool through the pool with the form's arguments, show the answer."""
        if not self.may_call(request):
            raise PermissionDenied
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        tool = self.get_object(request, unquote(object_id))
        if tool is None or not self.has_view_or_change_permission(request, tool):
            raise Http404(gettext("No such tool."))
        form = ToolTryForm(tool.input_schema, request.POST)
        outcome = None
        if form.is_valid():
            # Recorded before the call, as over REST: a call that hangs may still have acted.
            audit.audit_action(
                user=request.user,
                model="endpoints.toolcall",
                object_repr=tool.exposed_name,
                via=audit.VIA_ADMIN,
                action=f"Tool {tool.exposed_name!r} called (arguments not recorded)",
            )
            reply = tool_call(name=tool.exposed_name, arguments=form.arguments())
            outcome = {
                **describe_reply(reply),
                "worker": reply.get("worker"),
                "duration_ms": reply.get("durationMs"),
            }
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Try %(name)s") % {"name": tool.exposed_name},
            "tool": tool,
            "try_form": form,
            "try_url": reverse("admin:endpoints_tool_try", args=[tool.pk]),
            "change_url": reverse("admin:endpoints_tool_change", args=[tool.pk]),
            "outcome": outcome,
            "media": self.media,
        }
        status = 200 if outcome is not None else 400
        return TemplateResponse(request, "admin/endpoints/tool/try.html", context, status=status)


@admin.register(ToolCall)
class ToolCallAdmin(admin.ModelAdmin):
    list_display = ("at", "tool", "outcome", "duration", "endpoint", "server", "failovers", "error")
    list_filter = ("outcome", "server")
    search_fields = ("tool",)
    list_select_related = ("endpoint", "server")
    ordering = ("-id",)

    @admin.display(description=_("duration"), ordering="duration_ms")
    def duration(self, obj: ToolCall) -> str:
        return f"{obj.duration_ms:.1f} ms"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
