"""Keeps the xiaozhi-esp32-server database read-only from the hub's side.

Two layers: this router sends source models' reads there, refuses their
writes and refuses every migration on the alias; and the connection itself
is opened with SET SESSION TRANSACTION READ ONLY (settings.py), so even a
raw cursor or an explicit .using() cannot write.
"""

from django.conf import settings


class SourceIsReadOnly(Exception):
    """Raised when code tries to write to the xiaozhi-esp32-server database."""


def _is_source_model(model) -> bool:
    # Source models (unmanaged, issue: chat-history sync) set `hub_source = True`.
    return getattr(model, "hub_source", False)


class ReadOnlySourceRouter:
    def db_for_read(self, model, **hints):
        if _is_source_model(model):
            return settings.SOURCE_DATABASE_ALIAS
        return None

    def db_for_write(self, model, **hints):
        if _is_source_model(model):
            raise SourceIsReadOnly(
                f"{model._meta.label} lives in the xiaozhi-esp32-server database, "
                "which the hub only reads"
            )
        return None

    def allow_relation(self, obj1, obj2, **hints):
        # No foreign keys across databases.
        if _is_source_model(type(obj1)) != _is_source_model(type(obj2)):
            return False
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        # The sources' run-time aliases (chathistory/sources/registry.py) are read-only too.
        if db == settings.SOURCE_DATABASE_ALIAS or db.startswith("source-"):
            return False
        return None
