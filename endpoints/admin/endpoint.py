"""Admin of the endpoint pool: endpoints (URL never shown in full), global options, workers."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from endpoints.admin.common import (
    DeleteThroughServiceMixin,
    SecretFieldsMixin,
    SecretUrlForm,
    enable_actions,
    secret_url_field,
)
from endpoints.models import Endpoint, PoolOptions, PoolWorker
from endpoints.options import CONNECTION_FIELDS
from endpoints.pool_requests.endpoint import endpoint_check_health, endpoint_reconnect
from endpoints.selectors.endpoint import endpoint_events, endpoint_status_of
from endpoints.services.endpoint import (
    endpoint_delete,
    endpoint_save,
    endpoint_set_enabled,
    pool_options_update,
)


class EndpointForm(SecretUrlForm):
    url = secret_url_field(
        "ws:// or wss:// endpoint URL with its token. Kept secret: "
        "leave blank to keep the current URL."
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


@admin.register(Endpoint)
class EndpointAdmin(SecretFieldsMixin, DeleteThroughServiceMixin, admin.ModelAdmin):
    form = EndpointForm
    secret_fields = ("url",)  # masked_url shows it
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
            cache = endpoint_status_of(obj, now=timezone.now())
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
        events = endpoint_events(endpoint_id=obj.pk, limit=20)
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
        endpoint_save(endpoint=obj)

    def delete_service(self, pk: int) -> None:
        endpoint_delete(endpoint_id=pk)

    # --- actions ------------------------------------------------------------------
    @admin.action(description="Reconnect now", permissions=["change"])
    def reconnect_now(self, request, queryset) -> None:
        for endpoint in queryset:
            endpoint_reconnect(endpoint_id=endpoint.pk)
        self.message_user(request, f"Reconnect requested for {queryset.count()} endpoint(s).")

    @admin.action(description="Check health now", permissions=["change"])
    def check_health_now(self, request, queryset) -> None:
        for endpoint in queryset:
            report = endpoint_check_health(endpoint_id=endpoint.pk)
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
        lambda ids, on: endpoint_set_enabled(endpoint_ids=ids, enabled=on), "endpoint"
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
        pool_options_update(data={f: form.cleaned_data[f] for f in form.changed_data})


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
