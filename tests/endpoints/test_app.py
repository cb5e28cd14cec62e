from django.apps import apps
from django.db.migrations.loader import MigrationLoader


def test_endpoints_is_installed_with_its_own_migrations_package():
    config = apps.get_app_config("endpoints")
    assert config.name == "endpoints"
    assert MigrationLoader(None, ignore_no_migrations=True).migrations_module("endpoints")[0] == (
        "endpoints.migrations"
    )
