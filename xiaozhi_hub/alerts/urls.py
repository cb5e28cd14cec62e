from django.urls import path

from . import api

urlpatterns = [
    path("api/alerts", api.AlertListView.as_view(), name="alert-list"),
    path(
        "api/alerts/<int:alert_id>/acknowledge",
        api.AlertAcknowledgeView.as_view(),
        name="alert-acknowledge",
    ),
    path("api/alerts/<int:alert_id>/silence", api.AlertSilenceView.as_view(), name="alert-silence"),
]
