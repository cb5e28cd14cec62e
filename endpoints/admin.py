"""Admin for the endpoint pool: endpoints (URL never shown in full), global options, workers,
upstream MCP servers (secrets write-only), their tools and the tool-call log.

Saves go through endpoints.services, so every edit reaches the running pool.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from endpoints import selectors, services
from endpoints.models import (
    Endpoint,
    McpServer,
    PoolOptions,
    PoolWorker,
    Tool,
    ToolCall,
    mask_mapping,
    mask_upstream_url,
)
from endpoints.options import CONNECTION_FIELDS
from xiaozhi_hub.masking import MASK


def enable_actions(set_enabled, noun: str):
    """The admin actions Enable and Disable, for a `set_enabled(ids, on) -> count` service."""

    @admin.action(description="Enable")
    def enable(modeladmin, request, queryset) -> None:
        changed = set_enabled(queryset.values_list("pk", flat=True), True)
        modeladmin.message_user(request, f"Enabled {changed} {noun}(s).")

    @admin.action(description="Disable")
    def disable(modeladmin, request, queryset) -> None:
        changed = set_enabled(queryset.values_list("pk", flat=True), False)
        modeladmin.message_user(request, f"Disabled {changed} {noun}(s).")

    return enable, disable


class EndpointForm(forms.ModelForm):
    # A password-style input: the stored URL (with its token) is never sent to
    # the browser; left blank on an existing endpoint, the URL stays as it is.
    url = forms.CharField(
        label="URL",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"size": 80, "autocomplete": "off"}),
        help_text="ws:// or wss:// endpoint URL with its token. Kept secret: "
        "leave blank to keep the current URL.",
    )

    class Meta:
        model = Endpoint
        fields = (
            "name",
            "url",
            "enabled",
            "health_check_enabled",
            "reconnect_on_tools_change",
            *CONNECTION_FIELDS,
        )

    def clean_url(self) -> str:
        value = self.cleaned_data.get("url", "")
        if not value:
            if self.instance.pk:
                return self.instance.url
            raise forms.ValidationError("This field is required.")
        return value


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    form = EndpointForm
    list_display = (
        "name",
        "enabled",
        "state",
        "health_score",
        "rtt",
        "masked_url",
        "token_expiry",
        "worker",
    )
    list_display_links = ("name",)
    list_filter = ("enabled",)
    search_fields = ("name",)
    list_select_related = ("live",)
    actions = ("reconnect_now", "check_health_now", "enable", "disable")
    readonly_fields = ("masked_url", "token_expiry", "live_status", "health_history")
    fieldsets = (
        (None, {"fields": ("name", "url", "masked_url", "token_expiry", "enabled")}),
        ("Health checks", {"fields": ("health_check_enabled", "reconnect_on_tools_change")}),
        (
            "Connection options (empty: the global value)",
            {"fields": CONNECTION_FIELDS, "classes": ("collapse",)},
        ),
        ("Live status", {"fields": ("live_status", "health_history")}),
    )

    # --- columns ----------------------------------------------------------------
    def _status(self, obj: Endpoint) -> dict:
        cache = getattr(obj, "_status_cache", None)
        if cache is None:
            cache = selectors.endpoint_status_of(obj, now=timezone.now())
            obj._status_cache = cache
        return cache

    @admin.display(description="state")
    def state(self, obj: Endpoint) -> str:
        return self._status(obj)["state"]

    @admin.display(description="score")
    def health_score(self, obj: Endpoint) -> str:
        status = self._status(obj)
        return f"{status['healthScore']:.0f}" if status["connected"] else "-"

    @admin.display(description="RTT")
    def rtt(self, obj: Endpoint) -> str:
        rtt = self._status(obj)["rttMs"]
        return f"{rtt:.1f} ms" if rtt is not None else "-"

    @admin.display(description="URL")
    def masked_url(self, obj: Endpoint) -> str:
        return obj.masked_url if obj.pk else "-"

    @admin.display(description="token")
    def token_expiry(self, obj: Endpoint) -> str:
        return obj.token_expiry_label() if obj.pk else "-"

    @admin.display(description="worker")
    def worker(self, obj: Endpoint) -> str:
        return self._status(obj)["worker"] or "-"

    @admin.display(description="live status")
    def live_status(self, obj: Endpoint) -> str:
        if not obj.pk:
            return "-"
        status = self._status(obj)
        rows = [
            ("state", status["state"]),
            ("connected / initialized", f"{status['connected']} / {status['initialized']}"),
            ("health score", status["healthScore"]),
            ("RTT / p95", f"{status['rttMs']} / {status['rttP95Ms']} ms"),
            ("last connected", status["lastConnected"] or "-"),
            ("last error", f"{status['errorClass'] or '-'}: {status['lastError'] or '-'}"),
            ("reconnect attempts", status["reconnectAttempts"]),
            ("next reconnect", status["nextReconnectAt"] or "-"),
            ("consecutive failures", status["consecutiveFailures"]),
            ("requests ok / total", f"{status['successfulRequests']} / {status['totalRequests']}"),
            ("worker", status["worker"] or "-"),
        ]
        return format_html(
            "<table>{}</table>",
            format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows),
        )

    @admin.display(description="health history (newest first)")
    def health_history(self, obj: Endpoint) -> str:
        if not obj.pk:
            return "-"
        events = selectors.endpoint_events(endpoint_id=obj.pk, limit=20)
        if not events:
            return "no status changes recorded yet"
        rows = [
            (e["at"], e["previousState"] or "-", e["state"], e["errorClass"] or "", e["error"])
            for e in events
        ]
        return format_html(
            "<table><tr><th>at</th><th>from</th><th>to</th><th>class</th><th>error</th></tr>"
            "{}</table>",
            format_html_join(
                "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows
            ),
        )

    # --- saving through the services -------------------------------------------
    def save_model(self, request, obj, form, change) -> None:
        services.endpoint_save(endpoint=obj)

    def delete_model(self, request, obj) -> None:
        services.endpoint_delete(endpoint_id=obj.pk)

    def delete_queryset(self, request, queryset) -> None:
        for pk in list(queryset.values_list("pk", flat=True)):
            services.endpoint_delete(endpoint_id=pk)

    # --- actions ------------------------------------------------------------------
    @admin.action(description="Reconnect now")
    def reconnect_now(self, request, queryset) -> None:
        for endpoint in queryset:
            services.endpoint_reconnect(endpoint_id=endpoint.pk)
        self.message_user(request, f"Reconnect requested for {queryset.count()} endpoint(s).")

    @admin.action(description="Check health now")
    def check_health_now(self, request, queryset) -> None:
        for endpoint in queryset:
            report = services.endpoint_check_health(endpoint_id=endpoint.pk)
            if report.get("error"):
                self.message_user(request, f"{endpoint.name}: {report['error']}", messages.ERROR)
            elif not report["results"]:
                self.message_user(
                    request, f"{endpoint.name}: not connected by any worker", messages.WARNING
                )
            for result in report["results"]:
                if result["ok"]:
                    self.message_user(request, f"{endpoint.name}: {result['rttMs']:.1f} ms")
                else:
                    self.message_user(
                        request, f"{endpoint.name}: the ping failed", messages.WARNING
                    )

    enable, disable = enable_actions(
        lambda ids, on: services.endpoint_set_enabled(endpoint_ids=ids, enabled=on), "endpoint"
    )


@admin.register(PoolOptions)
class PoolOptionsAdmin(admin.ModelAdmin):
    """One row: the changelist opens its form."""

    fields = (*CONNECTION_FIELDS, "load_balance_strategy", "updated_at")
    readonly_fields = ("updated_at",)

    def changelist_view(self, request, extra_context=None):
        options = PoolOptions.load()
        return HttpResponseRedirect(
            reverse("admin:endpoints_pooloptions_change", args=[options.pk])
        )

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        services.pool_options_update(data={f: form.cleaned_data[f] for f in form.changed_data})


@admin.register(PoolWorker)
class PoolWorkerAdmin(admin.ModelAdmin):
    list_display = ("name", "hostname", "pid", "started_at", "heartbeat_at", "endpoints")
    readonly_fields = ("name", "hostname", "pid", "started_at", "heartbeat_at")

    @admin.display(description="endpoints held")
    def endpoints(self, obj: PoolWorker) -> int:
        return Endpoint.objects.filter(owner=obj.name).count()

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


# --- upstream MCP servers --------------------------------------------------------------
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
                value = json.loads(value) if value.strip() else ""
            except ValueError:
                return ""  # unparsable: shown empty (blank keeps what is stored)
        if isinstance(value, dict):
            return json.dumps(mask_mapping(value), ensure_ascii=False) if value else ""
        if isinstance(value, list):
            masked = [mask_upstream_url(v) if isinstance(v, str) else "" for v in value]
            return json.dumps(masked, ensure_ascii=False) if value else ""
        return ""


class McpServerForm(forms.ModelForm):
    url = forms.CharField(
        label="URL",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"size": 80, "autocomplete": "off"}),
        help_text="sse / streamable-http: the server's URL. Kept secret: leave blank to keep "
        "the current URL.",
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

    class Meta:
        model = McpServer
        fields = services.SERVER_FIELDS

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
        if value is None:
            return stored
        return {k: stored.get(k, v) if v == MASK else v for k, v in value.items()}

    def clean_env(self) -> dict:
        return self._clean_mapping("env")

    def clean_headers(self) -> dict:
        return self._clean_mapping("headers")

    def clean_replica_urls(self) -> list:
        stored = list(self.instance.replica_urls or []) if self.instance.pk else []
        value = self._json("replica_urls", list)
        if value is None:
            return stored
        by_mask = {mask_upstream_url(url): url for url in stored}
        return [by_mask.get(url, url) if isinstance(url, str) else url for url in value]

    def clean_url(self) -> str:
        value = self.cleaned_data.get("url", "")
        if not value and self.instance.pk:
            return self.instance.url
        return value


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
class McpServerAdmin(admin.ModelAdmin):
    form = McpServerForm
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
        return selectors.mcp_server_queryset()

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
        services.mcp_server_save(server=obj)

    def delete_model(self, request, obj) -> None:
        services.mcp_server_delete(server_id=obj.pk)

    def delete_queryset(self, request, queryset) -> None:
        for pk in list(queryset.values_list("pk", flat=True)):
            services.mcp_server_delete(server_id=pk)

    enable, disable = enable_actions(
        lambda ids, on: services.mcp_server_set_enabled(server_ids=ids, enabled=on), "MCP server"
    )

    @admin.action(description="Refresh tools now")
    def refresh_tools(self, request, queryset) -> None:
        services.mcp_servers_refresh()
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
        return selectors.tools_with_clashes()

    @admin.display(description="name clash")
    def clash(self, tool: Tool) -> str:
        shadowed_by = selectors.tool_shadowed_by(tool)
        return f"not offered: {shadowed_by!r} has this name" if shadowed_by else ""

    def save_model(self, request, obj, form, change) -> None:
        services.tool_update(
            tool_id=obj.pk,
            data={f: form.cleaned_data[f] for f in form.changed_data if f in services.TOOL_FIELDS},
        )

    enable, disable = enable_actions(
        lambda ids, on: services.tool_set_enabled(tool_ids=ids, enabled=on), "tool"
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
