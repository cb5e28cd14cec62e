"""Fixtures of the chat-history tests: a real source database behind the `esp32` alias.

The alias is added at fixture time (not in tests/settings.py) so the rest of
the suite keeps running without a source, as a default deployment does; and
it is never in a test's `databases`, so pytest-django never creates or
flushes a test database for it.
"""

from __future__ import annotations

import os
from contextlib import ExitStack, contextmanager

import pytest
from django.contrib.auth import get_user_model
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from chathistory.sources.registry import ALIAS_PREFIX, forget_alias
from tests.services import MYSQL_URL, require_services
from xiaozhi_hub.env import env_database

from .source_schema import SourceDatabase, source_name_for

ALIAS = "esp32"


@pytest.fixture(scope="session")
def source_database():
    require_services("mysql")
    source = SourceDatabase(MYSQL_URL)
    source.create()
    yield source
    source.drop()


def _alias_settings(url: str) -> dict:
    previous = os.environ.get("ESP32_DATABASE_URL")
    os.environ["ESP32_DATABASE_URL"] = url
    try:
        config = env_database("ESP32_DATABASE_URL")
    finally:
        if previous is None:
            os.environ.pop("ESP32_DATABASE_URL")
        else:
            os.environ["ESP32_DATABASE_URL"] = previous
    # As settings.py does for the real alias.
    config["OPTIONS"]["init_command"] += "; SET SESSION TRANSACTION READ ONLY"
    return connections.configure_settings({"default": {}, ALIAS: config})[ALIAS]


@contextmanager
def _source_alias(url: str, django_db_blocker):
    """The hub's `esp32` alias points at `url` (ESP32_DATABASE_URL) inside the block."""
    # connections.settings is settings.DATABASES: the source counts as configured.
    connections.settings[ALIAS] = _alias_settings(url)
    # Django's test case refuses connections (from other threads too) to aliases
    # outside its `databases`; the source is reachable everywhere, as in production.
    guarded = BaseDatabaseWrapper.ensure_connection
    real = django_db_blocker._real_ensure_connection

    def ensure_connection(self, *args, **kwargs):
        # The sources' run-time aliases (chathistory/sources/registry.py) too.
        source = self.alias == ALIAS or self.alias.startswith(ALIAS_PREFIX)
        target = real if source else guarded
        return target(self, *args, **kwargs)

    BaseDatabaseWrapper.ensure_connection = ensure_connection
    try:
        yield
    finally:
        BaseDatabaseWrapper.ensure_connection = guarded
        connections[ALIAS].close()
        del connections[ALIAS]
        del connections.settings[ALIAS]


@pytest.fixture
def source_at(django_db_blocker):
    """`source_at(url)` configures the source at `url` for the rest of the test."""
    with ExitStack() as stack:
        yield lambda url: stack.enter_context(_source_alias(url, django_db_blocker))


@pytest.fixture
def esp32(source_database, transactional_db, source_at):
    """An empty source database, reachable by the hub as the read-only `esp32` alias."""
    source_database.truncate()
    source_at(source_database.url)
    return source_database


@pytest.fixture(autouse=True)
def _forget_source_aliases():
    """The run-time aliases a test's sources registered do not outlive it."""
    yield
    for alias in [a for a in connections.settings if a.startswith(ALIAS_PREFIX)]:
        forget_alias(alias.removeprefix(ALIAS_PREFIX))


@pytest.fixture(scope="session")
def second_source_database():
    """Another xiaozhi-esp32-server database on the same MariaDB (a second server)."""
    require_services("mysql")
    source = SourceDatabase(MYSQL_URL, name=source_name_for(MYSQL_URL) + "_b")
    source.create()
    yield source
    source.drop()


@pytest.fixture
def lab(esp32, second_source_database):
    """A second mysql Source row, key "lab", reading `second_source_database` (emptied)
    through its run-time alias; the environment's source is `esp32`. Yields the database."""
    from chathistory.source_services import source_create

    second_source_database.truncate()
    source_create(key="lab", name="Lab", url=second_source_database.url)
    yield second_source_database
    forget_alias("lab")


@pytest.fixture
def staff_client(client, transactional_db):
    user = get_user_model().objects.create_user(
        "staff", password="pw", is_staff=True, is_superuser=True
    )
    client.force_login(user)
    return client
