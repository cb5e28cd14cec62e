"""The chat-history admin, one module per concern (each registers its own models)."""

from . import chat, manager_api, retention, source  # noqa: F401
