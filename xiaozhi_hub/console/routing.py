"""The console's WebSocket routes, mounted by xiaozhi_hub/asgi.py."""

from django.urls import path

from .consumer import ConsoleConsumer

websocket_urlpatterns = [
    path("ws/console/", ConsoleConsumer.as_asgi()),
    # The earlier design's address; same consumer, same protocol.
    path("ws/admin/", ConsoleConsumer.as_asgi()),
]
