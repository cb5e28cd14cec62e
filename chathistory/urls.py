from django.urls import path

from .api import export, history, views
from .api.ingest import ChatReportView

urlpatterns = [
    # manager-api compatible: xiaozhi-esp32-server's core reports each message here.
    path("xiaozhi/agent/chat-history/report", ChatReportView.as_view(), name="chat-report"),
    path("api/v2/devices", views.DeviceListView.as_view(), name="chat-devices"),
    # Across devices: the search (`q`) and its export.
    path("api/v2/messages", views.MessageListView.as_view(), name="chat-messages"),
    path("api/v2/messages/export", export.MessageExportView.as_view(), name="chat-export"),
    path(
        "api/v2/devices/<int:pk>/export",
        export.DeviceExportView.as_view(),
        name="chat-device-export",
    ),
    # A device by primary key: its identifier may hold any character (docs/chat-history.md).
    path(
        "api/v2/devices/<int:pk>/history",
        views.DeviceHistoryView.as_view(),
        name="chat-device-history-by-pk",
    ),
    path(
        "api/v2/devices/<int:pk>/sessions",
        views.DeviceSessionsView.as_view(),
        name="chat-sessions-by-pk",
    ),
    path(
        "api/v2/devices/<int:pk>/sessions/<int:session_pk>/messages",
        views.SessionMessagesView.as_view(),
        name="chat-device-session-messages",
    ),
    path(
        "api/v2/devices/<int:pk>/sessions/<int:session_pk>/export",
        export.SessionExportView.as_view(),
        name="chat-session-export",
    ),
    # The older routes, by identifier (any spelling of a MAC) and by session id.
    path(
        "api/v2/chat-history/<str:device_id>",
        views.DeviceHistoryView.as_view(),
        name="chat-device-history",
    ),
    path(
        "api/v2/sessions/<str:session_id>/messages",
        views.SessionMessagesView.as_view(),
        name="chat-session-messages",
    ),
    path(
        "api/v2/sessions/<str:device_id>", views.DeviceSessionsView.as_view(), name="chat-sessions"
    ),
    path("api/v2/sync/status", views.SyncStatusView.as_view(), name="chat-sync-status"),
    path("api/v2/sync/history", history.SyncHistoryView.as_view(), name="chat-sync-history"),
    path("api/v2/sync", views.SyncRequestView.as_view(), name="chat-sync"),
]
