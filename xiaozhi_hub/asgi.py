"""ASGI entry point: `daphne xiaozhi_hub.asgi:application` (HTTP and WebSockets).

A composition root: with urls.py, the only part of the hub's core that names
the console (the WebSocket routes and their token authentication).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "xiaozhi_hub.settings")
# Django must be set up before importing anything that touches models.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from .console.auth import TokenAuthMiddleware  # noqa: E402
from .console.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            # Session cookie first; an `Authorization: Token` header overrides it.
            AuthMiddlewareStack(TokenAuthMiddleware(URLRouter(websocket_urlpatterns)))
        ),
    }
)
