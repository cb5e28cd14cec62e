from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from .views import HealthView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/health", HealthView.as_view(), name="health"),
]
