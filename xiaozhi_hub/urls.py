"""The URL root: a composition root (with asgi.py), the one place that mounts every app."""

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.urls import include, path
from django.views.generic import RedirectView
from django.views.i18n import JavaScriptCatalog

from .api_docs import ApiDocsView, ApiSchemaView
from .console.limits import open_connections
from .metrics.views import MetricsView
from .views import HealthView, api_not_found

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/health", HealthView.as_view(), name="health"),
    # Public like the login page: the header's language switch (POST, CSRF-checked; it
    # sets a cookie) and the translations the console's and the admin's scripts use.
    path("i18n/", include("django.conf.urls.i18n")),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    # Prometheus (docs/metrics.md): its own token and/or addresses, not a user login.
    path("metrics", MetricsView.as_view(console_connections=open_connections), name="metrics"),
    # Each app owns its URL module; the prefixes are part of their public API.
    path("", include("endpoints.urls")),
    path("", include("chathistory.urls")),
    path("", include("xiaozhi_hub.alerts.urls")),
    path("", include("xiaozhi_hub.recall.urls")),
    path("console/", include("xiaozhi_hub.console.urls")),
    path("api/schema/", ApiSchemaView.as_view(), name="api-schema"),
    # A page: the anonymous go to the login, as on the console.
    path("api/docs/", staff_member_required(ApiDocsView.as_view()), name="api-docs"),
    # Last: any other /api/... path is a JSON 404.
    path("api/", api_not_found),
    path("api/<path:unknown>", api_not_found),
]
