from django.urls import path

from endpoints import api

urlpatterns = [
    path("api/status", api.PoolStatusView.as_view(), name="pool-status"),
    path("api/endpoints", api.EndpointListView.as_view(), name="endpoint-list"),
    path("api/endpoints/check", api.EndpointCheckView.as_view(), name="endpoint-check-all"),
    path("api/endpoints/probe", api.EndpointProbeView.as_view(), name="endpoint-probe"),
    path(
        "api/endpoints/<int:endpoint_id>", api.EndpointDetailView.as_view(), name="endpoint-detail"
    ),
    path(
        "api/endpoints/<int:endpoint_id>/reconnect",
        api.EndpointReconnectView.as_view(),
        name="endpoint-reconnect",
    ),
    path(
        "api/endpoints/<int:endpoint_id>/check",
        api.EndpointCheckView.as_view(),
        name="endpoint-check",
    ),
    path("api/pool/options", api.PoolOptionsView.as_view(), name="pool-options"),
]
