"""Secrets at rest: what the database really holds, key rotation, the lookup
digest, the migration that encrypts existing rows, and bad keys."""

from __future__ import annotations

import io
import logging

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.exceptions import FieldError, ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from endpoints.config_file import parse_config
from endpoints.models import Endpoint, McpServer
from endpoints.selectors.endpoint import endpoint_find_by_url
from endpoints.services.config_import import config_import
from endpoints.services.endpoint import endpoint_create
from tests.security.settings_env import clean_env, run_python
from xiaozhi_hub import crypto

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()

ENDPOINT_URL = "wss://api.xiaozhi.me/mcp/?token=EndpointTokenSecret1"
UPSTREAM_URL = "https://upstream.example/mcp?key=UpstreamUrlSecret2"
REPLICA_URL = "https://replica.example/mcp?key=ReplicaUrlSecret3"
ENV = {"API_KEY": "EnvValueSecret4"}
HEADERS = {"Authorization": "Bearer HeaderValueSecret5"}
SECRETS = ("EndpointTokenSecret1", "UpstreamUrlSecret2", "ReplicaUrlSecret3")
SECRETS += ("EnvValueSecret4", "HeaderValueSecret5")

ENDPOINT_COLUMNS = ("url",)
SERVER_COLUMNS = ("url", "env", "headers", "replica_urls")


def raw_rows(table: str, columns: tuple[str, ...]) -> list[tuple]:
    """The stored values themselves, past the ORM: plain SQL."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(quote(c) for c in ('id', *columns))} FROM {quote(table)} "
            "ORDER BY id"
        )
        return cursor.fetchall()


def raw_secrets() -> dict[tuple[str, int, str], str]:
    """Every stored secret column of every row, by (table, id, column)."""
    stored = {}
    for table, columns in (
        ("endpoints_endpoint", ENDPOINT_COLUMNS),
        ("endpoints_mcpserver", SERVER_COLUMNS),
    ):
        for row_id, *values in raw_rows(table, columns):
            stored.update({(table, row_id, c): v for c, v in zip(columns, values, strict=True)})
    return stored


def make_secrets() -> None:
    endpoint_create(name="agent", url=ENDPOINT_URL)
    McpServer.objects.create(name="local", transport="stdio", command="tool", env=ENV)
    McpServer.objects.create(
        name="remote",
        transport="streamable-http",
        url=UPSTREAM_URL,
        headers=HEADERS,
        replica_urls=[REPLICA_URL],
    )


def assert_app_reads_the_secrets() -> None:
    assert Endpoint.objects.get(name="agent").url == ENDPOINT_URL
    local = McpServer.objects.get(name="local")
    remote = McpServer.objects.get(name="remote")
    assert local.env == ENV
    assert (remote.url, remote.headers) == (UPSTREAM_URL, HEADERS)
    assert remote.replica_urls == [REPLICA_URL]
    config = remote.to_config()  # what the worker runs with
    assert [r.url for r in config.replicas] == [UPSTREAM_URL, REPLICA_URL]
    assert dict(config.replicas[0].headers) == HEADERS


@pytest.fixture
def keys(settings):
    """Set HUB_ENCRYPTION_KEYS (newest first); the keyring follows the setting."""

    def use(*keys: str) -> None:
        settings.HUB_ENCRYPTION_KEYS = list(keys)

    use(OLD_KEY)
    return use


def test_the_database_holds_no_secret_and_the_app_reads_them_back(db, keys):
    make_secrets()
    stored = raw_secrets()
    assert len(stored) == 1 + 2 * len(SERVER_COLUMNS)
    dump = "\n".join(str(value) for value in stored.values())
    for secret in SECRETS:
        assert secret not in dump
    for value in stored.values():
        Fernet(OLD_KEY).decrypt(value.encode())  # each one a token of the configured key
    assert_app_reads_the_secrets()


def test_filtering_on_an_encrypted_field_is_an_error_not_an_empty_answer(db, keys):
    make_secrets()
    with pytest.raises(FieldError, match="Endpoint.url is stored encrypted"):
        list(Endpoint.objects.filter(url=ENDPOINT_URL))
    with pytest.raises(FieldError, match="McpServer.env is stored encrypted"):
        list(McpServer.objects.filter(env__API_KEY="x"))
    assert Endpoint.objects.filter(url__isnull=False).count() == 1


def test_an_endpoint_is_found_by_its_url_before_and_after_a_rotation(db, keys):
    endpoint = endpoint_create(name="agent", url=ENDPOINT_URL)
    other = endpoint_create(name="other", url=ENDPOINT_URL.replace("Secret1", "Other"))
    assert endpoint_find_by_url(url=ENDPOINT_URL) == endpoint
    assert endpoint_find_by_url(url=f" {ENDPOINT_URL}\n") == endpoint
    assert endpoint_find_by_url(url=ENDPOINT_URL + "x") is None
    digest_before = raw_rows("endpoints_endpoint", ("url_digest",))

    keys(NEW_KEY, OLD_KEY)  # the new key is in front, the rows not yet rotated
    assert endpoint_find_by_url(url=ENDPOINT_URL) == endpoint
    call_command("rotate_encryption_key", stdout=io.StringIO())
    assert raw_rows("endpoints_endpoint", ("url_digest",)) != digest_before
    keys(NEW_KEY)
    assert endpoint_find_by_url(url=ENDPOINT_URL) == endpoint
    assert endpoint_find_by_url(url=other.url) == other

    # The config import matches by URL: the same URL is "unchanged", not a second endpoint.
    report = config_import(parsed=parse_config({"mcpEndpoint": [ENDPOINT_URL]}))
    assert report.lines("mcpEndpoint") == ["unchanged 1: agent"]
    assert Endpoint.objects.count() == 2


def test_rotation_reencrypts_every_row_and_old_backups_read_while_the_old_key_is_kept(db, keys):
    make_secrets()
    backup = raw_secrets()  # a database dump taken under the old key

    keys(NEW_KEY, OLD_KEY)
    assert_app_reads_the_secrets()  # reading works across the rotation
    out = io.StringIO()
    call_command("rotate_encryption_key", stdout=out)
    assert "endpoints.Endpoint: 1 of 1 rows re-encrypted" in out.getvalue()
    assert "endpoints.McpServer: 2 of 2 rows re-encrypted" in out.getvalue()
    rotated = raw_secrets()
    assert rotated.keys() == backup.keys()
    for place, token in rotated.items():
        assert token != backup[place], place
        Fernet(NEW_KEY).decrypt(token.encode())  # now under the new key...
        with pytest.raises(InvalidToken):
            Fernet(OLD_KEY).decrypt(token.encode())  # ...and no longer the old one
    assert_app_reads_the_secrets()

    again = io.StringIO()
    call_command("rotate_encryption_key", stdout=again)
    assert "endpoints.Endpoint: 0 of 1 rows re-encrypted" in again.getvalue()
    assert raw_secrets() == rotated  # idempotent: nothing rewritten

    # The old backup still decrypts while the old key is in the ring...
    for token in backup.values():
        crypto.decrypt(token)
    # ...and, once it is dropped, fails with a message that names no key nor secret.
    keys(NEW_KEY)
    token = backup[("endpoints_endpoint", Endpoint.objects.get().pk, "url")]
    with pytest.raises(crypto.DecryptionError, match="HUB_ENCRYPTION_KEY") as failure:
        crypto.decrypt(token)
    assert OLD_KEY not in str(failure.value) and NEW_KEY not in str(failure.value)
    with connection.cursor() as cursor:  # the old backup restored into the database
        cursor.execute("UPDATE endpoints_endpoint SET url = %s", [token])
    with pytest.raises(crypto.DecryptionError):
        Endpoint.objects.get()
    with pytest.raises(CommandError, match=r"endpoints\.Endpoint #\d+: a stored secret"):
        call_command("rotate_encryption_key", stdout=io.StringIO())


def test_rows_written_before_a_key_was_set_move_to_it(db, settings):
    settings.HUB_ENCRYPTION_KEYS = []  # the fallback: derived from SECRET_KEY
    make_secrets()
    settings.HUB_ENCRYPTION_KEYS = [NEW_KEY]
    assert_app_reads_the_secrets()
    call_command("rotate_encryption_key", stdout=io.StringIO())
    for token in raw_secrets().values():
        Fernet(NEW_KEY).decrypt(token.encode())


def test_without_a_key_a_warning_is_logged_once_and_check_deploy_warns(settings, caplog):
    settings.HUB_ENCRYPTION_KEYS = []
    with caplog.at_level(logging.WARNING, logger="xiaozhi_hub.crypto"):
        token = crypto.encrypt("x")
        crypto.decrypt(token)
    warnings = [r for r in caplog.records if r.name == "xiaozhi_hub.crypto"]
    assert len(warnings) == 1 and "HUB_ENCRYPTION_KEY is not set" in warnings[0].getMessage()
    assert [m.id for m in crypto.check_encryption_key()] == ["xiaozhi_hub.W001"]

    settings.HUB_ENCRYPTION_KEYS = [NEW_KEY]
    assert crypto.check_encryption_key() == []


def test_the_fallback_key_follows_secret_key_and_its_fallbacks(settings):
    settings.HUB_ENCRYPTION_KEYS = []
    token = crypto.encrypt("value")
    settings.SECRET_KEY = "another-secret-key"
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(token)
    settings.SECRET_KEY_FALLBACKS = ["tests-only-secret-key"]
    assert crypto.decrypt(token) == "value"


def test_keys_are_read_newest_first_from_the_variable_or_the_file(monkeypatch, tmp_path):
    monkeypatch.delenv("HUB_ENCRYPTION_KEY_FILE", raising=False)
    monkeypatch.setenv("HUB_ENCRYPTION_KEY", f" {NEW_KEY} , {OLD_KEY}")
    assert crypto.encryption_keys_from_env() == [NEW_KEY, OLD_KEY]
    monkeypatch.delenv("HUB_ENCRYPTION_KEY")
    key_file = tmp_path / "keys"
    key_file.write_text(f"{NEW_KEY}\n\n{OLD_KEY}\n")
    monkeypatch.setenv("HUB_ENCRYPTION_KEY_FILE", str(key_file))
    assert crypto.encryption_keys_from_env() == [NEW_KEY, OLD_KEY]

    key_file.write_text(f"{NEW_KEY}\nNotAKeySecretPart\n")
    with pytest.raises(ImproperlyConfigured) as bad:
        crypto.encryption_keys_from_env()
    message = str(bad.value)
    assert "HUB_ENCRYPTION_KEY_FILE: key 2 of 2 is not a Fernet key" in message
    assert "NotAKeySecretPart" not in message and NEW_KEY not in message


def test_a_malformed_key_refuses_to_start_naming_the_variable_not_the_key(tmp_path):
    env = clean_env(
        tmp_path, SECRET_KEY="x" * 50, HUB_ENCRYPTION_KEY=f"{NEW_KEY},TooShortSecretKey"
    )
    result = run_python("import django; django.setup()", env)
    assert result.returncode != 0
    assert "HUB_ENCRYPTION_KEY: key 2 of 2 is not a Fernet key" in result.stderr
    assert "TooShortSecretKey" not in result.stderr and NEW_KEY not in result.stderr


@pytest.mark.django_db(transaction=True)
def test_migration_0004_encrypts_the_rows_already_there_and_its_reverse_decrypts(settings):
    settings.HUB_ENCRYPTION_KEYS = [NEW_KEY]
    before = ("endpoints", "0003_access_and_option_bounds")
    after = ("endpoints", "0004_encrypt_secrets")
    executor = MigrationExecutor(connection)
    executor.migrate([before])
    try:
        old_apps = executor.loader.project_state([before]).apps
        old_apps.get_model("endpoints", "Endpoint").objects.create(name="agent", url=ENDPOINT_URL)
        old_apps.get_model("endpoints", "McpServer").objects.create(
            name="remote",
            transport="sse",
            url=UPSTREAM_URL,
            headers=HEADERS,
            env=ENV,
            replica_urls=[REPLICA_URL],
        )
        plaintext = "\n".join(str(v) for v in raw_rows("endpoints_mcpserver", SERVER_COLUMNS))
        assert "HeaderValueSecret5" in plaintext  # the secrets were stored in plaintext

        executor = MigrationExecutor(connection)
        executor.migrate([after])
        stored = raw_rows("endpoints_endpoint", ENDPOINT_COLUMNS)
        stored += raw_rows("endpoints_mcpserver", SERVER_COLUMNS)
        dump = "\n".join(str(v) for v in stored)
        for secret in SECRETS:
            assert secret not in dump
        new_apps = executor.loader.project_state([after]).apps
        server = new_apps.get_model("endpoints", "McpServer").objects.get()
        assert (server.url, server.headers, server.env) == (UPSTREAM_URL, HEADERS, ENV)
        assert server.replica_urls == [REPLICA_URL]
        endpoint = new_apps.get_model("endpoints", "Endpoint").objects.get()
        assert endpoint.url == ENDPOINT_URL
        assert endpoint.url_digest in crypto.lookup_digests(ENDPOINT_URL)

        executor = MigrationExecutor(connection)
        executor.migrate([before])
        assert raw_rows("endpoints_endpoint", ENDPOINT_COLUMNS)[0][1] == ENDPOINT_URL
        server = (
            executor.loader.project_state([before])
            .apps.get_model("endpoints", "McpServer")
            .objects.get()
        )
        assert (server.url, server.headers, server.env) == (UPSTREAM_URL, HEADERS, ENV)
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())
