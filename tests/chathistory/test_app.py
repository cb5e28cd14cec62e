from django.apps import apps
from django.db.migrations.loader import MigrationLoader


def test_chathistory_is_installed_with_its_own_migrations_package():
    config = apps.get_app_config("chathistory")
    assert config.name == "chathistory"
    assert MigrationLoader(None, ignore_no_migrations=True).migrations_module("chathistory")[0] == (
        "chathistory.migrations"
    )
