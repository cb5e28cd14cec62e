from django.urls import path

from . import api

urlpatterns = [
    path("api/recall/access", api.AccessListView.as_view(), name="recall-access-list"),
    path(
        "api/recall/access/<int:endpoint_id>",
        api.AccessDetailView.as_view(),
        name="recall-access-detail",
    ),
]
