"""The URL root: a composition root (with asgi.py), the one place that mounts every app."""

from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from .views import HealthView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/health", HealthView.as_view(), name="health"),
    # Each app owns its URL module; the prefixes are part of their public API.
    path("", include("endpoints.urls")),
    path("", include("chathistory.urls")),
    path("console/", include("xiaozhi_hub.console.urls")),
]
