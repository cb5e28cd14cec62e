from django.urls import path

from . import sse, views

app_name = "console"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("devices/", views.devices, name="devices"),
    path("devices/<int:pk>/", views.transcript, name="transcript"),
    path("devices/<str:mac>/", views.transcript_by_mac, name="transcript-by-mac"),
    path("sync/", views.sync, name="sync"),
    path("events", sse.events, name="events"),
    path("request", views.RequestView.as_view(), name="request"),
]
