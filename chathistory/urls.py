from django.urls import path

from .api import audio, export, history, retention, sources, views
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
    # A message's audio (WAV, Range requests): chathistory/api/audio.py, docs/audio.md.
    path(
        "api/v2/messages/<int:message_pk>/audio",
        audio.MessageAudioView.as_view(),
        name="chat-message-audio",
    ),
    # The servers the hub copies from (docs/sources.md).
    path("api/v2/sources", sources.SourceListView.as_view(), name="chat-sources"),
    path("api/v2/sources/<slug:key>", sources.SourceDetailView.as_view(), name="chat-source"),
    # Retention policies and deleting a device's history (docs/retention.md).
    path(
        "api/v2/retention/policies",
        retention.PolicyListView.as_view(),
        name="chat-retention-policies",
    ),
    path(
        "api/v2/retention/policies/<int:policy_id>",
        retention.PolicyDetailView.as_view(),
        name="chat-retention-policy",
    ),
    path("api/v2/retention/runs", retention.RunListView.as_view(), name="chat-retention-runs"),
    path(
        "api/v2/retention/devices/<int:pk>",
        retention.DeviceHistoryDeleteView.as_view(),
        name="chat-retention-device-delete",
    ),
]
