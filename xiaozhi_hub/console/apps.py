from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConsoleConfig(AppConfig):
    """The live console: staff pages, the WebSocket and the SSE fallback.

    It sits at the top of the dependency graph: it reads and drives the
    endpoint pool and the chat-history hub; the hub's core and the apps know
    nothing of it (only the composition roots, asgi.py and urls.py, name it).
    """

    name = "xiaozhi_hub.console"
    label = "console"
    verbose_name = _("Live console")
