"""API tokens stored hashed (django-rest-knox): shown once, revocable, accepted by
REST, the console WebSocket and SSE; old plaintext DRF tokens carried over."""

from __future__ import annotations

import io
import secrets
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.apps.registry import Apps
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, models
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from tests.security.settings_env import settings_from
from tests.services import api_token
from xiaozhi_hub.console.auth import user_for_token

API = "/api/endpoints"


def superuser(username: str = "root"):
    return get_user_model().objects.create_user(
        username, password="pw", is_staff=True, is_superuser=True
    )


def status_with(key: str) -> int:
    """200 when the key authenticates; 401 (with the challenge) when it is refused."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    response = client.get(API)
    if response.status_code == 401:
        assert response.json()["detail"] == "Invalid token."
        assert response["WWW-Authenticate"] == "Token"
    return response.status_code


def stored_token_text() -> str:
    """Every column of every stored token, as plain SQL returns it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM knox_authtoken")
        return "\n".join(str(value) for row in cursor.fetchall() for value in row)


def test_the_database_keeps_no_key_and_the_key_works(db):
    user = superuser()
    key = api_token(user)
    assert len(key) == 64
    assert key not in stored_token_text()
    assert key[20:] not in stored_token_text()  # not even the part past the lookup prefix
    assert status_with(key) == 200
    assert status_with(key[:-1] + ("0" if key[-1] != "0" else "1")) == 401
    assert user_for_token(key) == user
    assert AuthToken.objects.get().expiry is None  # scripts' tokens last until revoked


def test_the_command_shows_the_key_once_lists_without_keys_and_revokes(db):
    superuser("alice")
    out, err = io.StringIO(), io.StringIO()
    call_command("api_token", "create", "alice", stdout=out, stderr=err)
    key = out.getvalue().strip()
    assert "not shown again" in err.getvalue()
    assert status_with(key) == 200
    second = io.StringIO()
    call_command("api_token", "create", "alice", stdout=second, stderr=io.StringIO())
    other = second.getvalue().strip()

    listing = io.StringIO()
    call_command("api_token", "list", "alice", stdout=listing)
    lines = listing.getvalue().splitlines()
    assert [line.split()[0] for line in lines] == [key[:8], other[:8]]
    assert all("never expires" in line for line in lines)
    assert key[8:] not in listing.getvalue() and other[8:] not in listing.getvalue()

    call_command("api_token", "revoke", "alice", key[:8], stdout=io.StringIO())
    assert status_with(key) == 401
    assert status_with(other) == 200
    with pytest.raises(CommandError, match="has no token"):
        call_command("api_token", "revoke", "alice", key[:8], stdout=io.StringIO())
    with pytest.raises(CommandError, match="at least 8 characters"):
        call_command("api_token", "revoke", "alice", "abc", stdout=io.StringIO())
    with pytest.raises(CommandError, match="no user 'bob'"):
        call_command("api_token", "create", "bob", stdout=io.StringIO())

    done = io.StringIO()
    call_command("api_token", "revoke", "alice", "--all", stdout=done)
    assert "Revoked 1 token of alice" in done.getvalue()
    assert status_with(other) == 401


def test_tokens_expire_when_the_setting_says_so(db, settings, tmp_path):
    user = superuser()
    settings.REST_KNOX = {"TOKEN_TTL": timedelta(days=30)}
    key = api_token(user)
    expiry = AuthToken.objects.get().expiry
    assert timedelta(days=29) < expiry - timezone.now() <= timedelta(days=30)
    assert status_with(key) == 200
    AuthToken.objects.update(expiry=timezone.now() - timedelta(seconds=1))
    assert status_with(key) == 401
    assert user_for_token(key) is None

    read = settings_from(tmp_path, ["REST_KNOX"], HUB_API_TOKEN_TTL_DAYS="30")
    assert read["REST_KNOX"] == {"TOKEN_TTL": str(timedelta(days=30))}
    assert settings_from(tmp_path, ["REST_KNOX"])["REST_KNOX"] == {"TOKEN_TTL": None}


@pytest.fixture
def console(settings):
    import redis

    from tests.services import REDIS_URL
    from xiaozhi_hub.console.limits import connections, registry_key

    settings.HUB_CONSOLE_MAX_SUBSCRIBERS = 100
    redis.Redis.from_url(REDIS_URL).delete(registry_key())
    connections.local.clear()


@pytest.mark.requires_services("mysql", "redis")
@pytest.mark.django_db(transaction=True)
async def test_the_console_websocket_and_sse_accept_a_token_and_refuse_a_revoked_one(console):
    from tests.console.test_sse import Events, stream
    from tests.xiaozhi_hub.test_console import closed_with, token_communicator

    user = await sync_to_async(superuser)("script")
    key = await sync_to_async(api_token)(user)

    ws = token_communicator(key)
    connected, _ = await ws.connect()
    assert connected
    hello = await ws.receive_json_from(timeout=5)
    assert hello["type"] == "hello" and hello["payload"]["user"] == "script"
    await ws.disconnect()

    events = Events(stream("channels=health", "", (b"authorization", f"Token {key}".encode())))
    assert (await events.start())["status"] == 200
    assert (await events.next())["payload"]["user"] == "script"
    await events.app.send_input({"type": "http.disconnect"})
    await events.app.wait(timeout=10)

    await sync_to_async(AuthToken.objects.filter(user=user).delete)()
    ws = token_communicator(key)
    await ws.connect()
    assert (await closed_with(ws))["reason"] == "invalid token"
    refused = stream("channels=health", "", (b"authorization", f"Token {key}".encode()))
    assert (await Events(refused).start())["status"] == 401


LEGACY = Apps()


class LegacyDrfToken(models.Model):
    """rest_framework.authtoken's table as an older database has it."""

    key = models.CharField(max_length=40, primary_key=True)
    user_id = models.BigIntegerField()
    created = models.DateTimeField()

    class Meta:
        app_label = "authtoken"
        db_table = "authtoken_token"
        apps = LEGACY

    def __str__(self) -> str:
        return str(self.user_id)


@pytest.mark.django_db(transaction=True)
def test_plaintext_drf_tokens_are_carried_over_hashed_and_keep_working():
    user = superuser()
    key = secrets.token_hex(20)  # DRF's format: 40 hex characters
    created = timezone.now().replace(microsecond=0) - timedelta(days=100)
    before, after = ("access", "0001_roles"), ("access", "0002_hash_api_tokens")
    executor = MigrationExecutor(connection)
    executor.migrate([before])
    with connection.schema_editor() as editor:
        editor.create_model(LegacyDrfToken)
    try:
        LegacyDrfToken.objects.create(key=key, user_id=user.pk, created=created)
        assert status_with(key) == 401  # before the migration, knox does not know it

        MigrationExecutor(connection).migrate([after])
        assert LegacyDrfToken.objects.count() == 0  # no plaintext key left
        assert key not in stored_token_text()
        token = AuthToken.objects.get()
        assert (token.user, token.created, token.expiry) == (user, created, None)
        assert status_with(key) == 200
        assert user_for_token(key) == user
    finally:
        with connection.schema_editor() as editor:
            editor.delete_model(LegacyDrfToken)
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
