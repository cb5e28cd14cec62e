"""Admin of the endpoint pool: endpoints (URL never shown in full), global options, workers.

An endpoint's change page shows its live status in words (status_display.py), its
state changes as a timeline (status_timeline.py), and has Reconnect and Check
buttons: POST views that ask the running pool through the same requests as the
console and the commands (pool_requests/endpoint.py), for the same permission.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from endpoints import status_display
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
from endpoints.status_timeline import timeline
from xiaozhi_hub.access.permissions import page_permissions_required

# What the Reconnect and Check buttons need: the permission of the console's
# endpoint:reconnect and endpoint:check requests (operators hold it).
CONTROL_PERMISSION = "endpoints.change_endpoint"
HISTORY_EVENTS = 50  # state changes folded into the timeline


class EndpointForm(SecretUrlForm):
    url = secret_url_field(
        gettext_lazy(
            "ws:// or wss:// endpoint URL with its token. Kept secret: "
            "leave blank to keep the current URL."
        )
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Left out of a form post (a script, an older form): keep the profile as it is.
        # (Absent from a view-only page's form.)
        if "peer_profile" in self.fields:
            self.fields["peer_profile"].required = False

    def clean_peer_profile(self) -> str:
        return self.cleaned_data.get("peer_profile") or self.instance.peer_profile or "auto"

    class Meta:
        model = Endpoint
        fields = (
            "name",
            "url",
            "peer_profile",
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
        "profile",
        "state",
        "health_score",
        "rtt",
        "masked_url",
        "token_expiry",
        "worker",
    )
    list_display_links = ("name",)
    list_filter = ("enabled", "peer_profile")
    search_fields = ("name",)
    list_select_related = ("live",)
    actions = ("reconnect_now", "check_health_now", "enable", "disable")
    readonly_fields = ("masked_url", "token_expiry", "live_status", "health_history")
    fieldsets = (
        (
            None,
            {"fields": ("name", "url", "masked_url", "token_expiry", "peer_profile", "enabled")},
        ),
        (
            gettext_lazy("Health checks"),
            {"fields": ("health_check_enabled", "reconnect_on_tools_change")},
        ),
        (
            gettext_lazy("Connection options (empty: the global value)"),
            {"fields": CONNECTION_FIELDS, "classes": ("collapse",)},
        ),
        (gettext_lazy("Live status"), {"fields": ("live_status", "health_history")}),
    )

    class Media:
        css = {"all": ("hub-admin/endpoint.css",)}

    # --- columns ----------------------------------------------------------------
    def _status(self, obj: Endpoint) -> dict:
        cache = getattr(obj, "_status_cache", None)
        if cache is None:
            cache = endpoint_status_of(obj, now=timezone.now())
            obj._status_cache = cache
        return cache

    @admin.display(description=gettext_lazy("peer"), ordering="peer_profile")
    def profile(self, obj: Endpoint) -> str:
        return status_display.profile_label(obj.effective_peer_profile, obj.peer_profile)

    @admin.display(description=gettext_lazy("state"))
    def state(self, obj: Endpoint) -> str:
        return status_display.state_label(self._status(obj)["state"])

    @admin.display(description=gettext_lazy("score"))
    def health_score(self, obj: Endpoint) -> str:
        status = self._status(obj)
        return f"{status['healthScore']:.0f}" if status["connected"] else status_display.MISSING

    @admin.display(description=gettext_lazy("RTT"))
    def rtt(self, obj: Endpoint) -> str:
        rtt = self._status(obj)["rttMs"]
        return _("%(ms)s ms") % {"ms": f"{rtt:.1f}"} if rtt is not None else status_display.MISSING

    @admin.display(description=gettext_lazy("URL"))
    def masked_url(self, obj: Endpoint) -> str:
        return obj.masked_url if obj.pk else status_display.MISSING

    @admin.display(description=gettext_lazy("token"))
    def token_expiry(self, obj: Endpoint) -> str:
        return obj.token_expiry_label() if obj.pk else status_display.MISSING

    @admin.display(description=gettext_lazy("worker"))
    def worker(self, obj: Endpoint) -> str:
        return self._status(obj)["worker"] or status_display.MISSING

    @admin.display(description=gettext_lazy("live status"))
    def live_status(self, obj: Endpoint) -> str:
        if not obj.pk:
            return status_display.MISSING
        now = timezone.now()
        status = self._status(obj)
        live = getattr(obj, "live", None)  # none until a worker reports
        updated_at = live.updated_at if live is not None else None
        context = {
            "summary": status_display.summary(status, updated_at=updated_at, now=now),
            "state": status["state"],
            "rows": status_display.status_rows(status, updated_at=updated_at, now=now),
        }
        return render_to_string("admin/endpoints/endpoint/live_status.html", context)

    @admin.display(description=gettext_lazy("state changes"))
    def health_history(self, obj: Endpoint) -> str:
        if not obj.pk:
            return status_display.MISSING
        events = endpoint_events(endpoint_id=obj.pk, limit=HISTORY_EVENTS)
        context = timeline(events, now=timezone.now())
        return render_to_string("admin/endpoints/endpoint/timeline.html", context)

    # --- the change page's buttons ---------------------------------------------------
    def get_urls(self):
        def control(view):
            guarded = page_permissions_required(CONTROL_PERMISSION)(view)
            return self.admin_site.admin_view(guarded)

        return [
            path(
                "<path:object_id>/reconnect/",
                control(self.reconnect_view),
                name="endpoints_endpoint_reconnect",
            ),
            path(
                "<path:object_id>/check/",
                control(self.check_view),
                name="endpoints_endpoint_check",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "endpoint_controls": request.user.has_perm(CONTROL_PERMISSION),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def reconnect_view(self, request, object_id: str):
        """POST: the change page's Reconnect button."""
        return self._control(request, object_id, self._reconnect)

    def check_view(self, request, object_id: str):
        """POST: the change page's Check button."""
        return self._control(request, object_id, self._check)

    def _control(self, request, object_id: str, act):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        endpoint = self.get_object(request, unquote(object_id))
        if endpoint is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        act(request, endpoint)
        return redirect(reverse("admin:endpoints_endpoint_change", args=[endpoint.pk]))

    def _reconnect(self, request, endpoint: Endpoint) -> None:
        answer = endpoint_reconnect(endpoint_id=endpoint.pk)
        if answer["done"]:
            message = _("Reconnecting “%(name)s” now (worker %(worker)s).")
            self.message_user(
                request, message % {"name": endpoint.name, "worker": answer["worker"]}
            )
        else:
            message = _("“%(name)s” was not reconnected: %(error)s")
            self.message_user(
                request, message % {"name": endpoint.name, "error": answer["error"]}, messages.ERROR
            )

    def _check(self, request, endpoint: Endpoint) -> None:
        self._report_check(request, endpoint_check_health(endpoint_id=endpoint.pk))

    def _report_check(self, request, report: dict) -> None:
        """One message per endpoint checked: its RTT, or why the check failed."""
        for result in report["results"]:
            if result["ok"]:
                message = _("“%(name)s” answered the ping in %(rtt)s (worker %(worker)s).")
                rtt = status_display.milliseconds(result["rttMs"])
                self.message_user(
                    request,
                    message % {"name": result["name"], "rtt": rtt, "worker": result["worker"]},
                )
            else:
                self._check_failed(request, result)
        for item in report["notChecked"]:
            self._check_failed(request, item)

    def _check_failed(self, request, item: dict) -> None:
        message = _("The check of “%(name)s” failed: %(error)s")
        self.message_user(
            request, message % {"name": item["name"], "error": item["error"]}, messages.ERROR
        )

    # --- saving through the services -------------------------------------------
    def save_model(self, request, obj, form, change) -> None:
        endpoint_save(endpoint=obj)

    def delete_service(self, pk: int) -> None:
        endpoint_delete(endpoint_id=pk)

    # --- actions ------------------------------------------------------------------
    @admin.action(description=gettext_lazy("Reconnect now"), permissions=["change"])
    def reconnect_now(self, request, queryset) -> None:
        for endpoint in queryset:
            self._reconnect(request, endpoint)

    @admin.action(description=gettext_lazy("Check health now"), permissions=["change"])
    def check_health_now(self, request, queryset) -> None:
        for endpoint in queryset:
            self._check(request, endpoint)

    enable, disable = enable_actions(
        lambda ids, on: endpoint_set_enabled(endpoint_ids=ids, enabled=on),
        gettext_lazy("endpoint"),
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

    @admin.display(description=gettext_lazy("endpoints held"))
    def endpoints(self, obj: PoolWorker) -> int:
        return Endpoint.objects.filter(owner=obj.name).count()

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
