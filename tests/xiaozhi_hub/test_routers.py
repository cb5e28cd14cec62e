"""The xiaozhi-esp32-server database is read-only: by router and by connection."""

import subprocess
import sys

import MySQLdb
import pytest

from tests.services import MYSQL_URL, REPO, hub_env
from xiaozhi_hub.routers import ReadOnlySourceRouter, SourceIsReadOnly


class FakeSourceModel:
    hub_source = True

    class _meta:  # noqa: N801 - mimics Model._meta
        label = "chathistory.SourceChat"


class FakeHubModel:
    class _meta:  # noqa: N801
        label = "chathistory.ChatMessage"


def test_router_reads_source_models_from_the_source_and_refuses_writes(settings):
    router = ReadOnlySourceRouter()
    assert router.db_for_read(FakeSourceModel) == settings.SOURCE_DATABASE_ALIAS
    assert router.db_for_read(FakeHubModel) is None
    assert router.db_for_write(FakeHubModel) is None
    with pytest.raises(SourceIsReadOnly, match="chathistory.SourceChat .* only reads"):
        router.db_for_write(FakeSourceModel)


def test_router_refuses_every_migration_on_the_source_alias(settings):
    router = ReadOnlySourceRouter()
    assert router.allow_migrate(settings.SOURCE_DATABASE_ALIAS, "auth") is False
    assert (
        router.allow_migrate(settings.SOURCE_DATABASE_ALIAS, "chathistory", "chatmessage") is False
    )
    assert router.allow_migrate("default", "auth") is None


SOURCE_DB = "hub_test_esp32_source"


@pytest.fixture
def source_database():
    """A real xiaozhi-esp32-server chat table in its own MariaDB database."""
    from urllib.parse import urlsplit

    parts = urlsplit(MYSQL_URL)
    root = MySQLdb.connect(
        host=parts.hostname,
        port=parts.port,
        user=parts.username,
        passwd=parts.password or "",
        charset="utf8mb4",
    )
    cursor = root.cursor()
    cursor.execute(f"DROP DATABASE IF EXISTS {SOURCE_DB}")
    cursor.execute(f"CREATE DATABASE {SOURCE_DB} CHARACTER SET utf8mb4")
    cursor.execute(
        f"""CREATE TABLE {SOURCE_DB}.ai_agent_chat_history (
            id BIGINT AUTO_INCREMENT PRIMARY KEY,
            mac_address VARCHAR(50), agent_id VARCHAR(32), session_id VARCHAR(50),
            chat_type TINYINT, content TEXT, audio_id VARCHAR(32),
            created_at DATETIME(3) DEFAULT CURRENT_TIMESTAMP(3),
            updated_at DATETIME(3) DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3)
        ) CHARACTER SET utf8mb4"""
    )
    cursor.execute(
        f"INSERT INTO {SOURCE_DB}.ai_agent_chat_history (mac_address, chat_type, content) "
        "VALUES ('aa:bb:cc:dd:ee:ff', 1, '你好 👋')"
    )
    root.commit()

    def tables_and_rows():
        cursor.execute(f"SHOW TABLES FROM {SOURCE_DB}")
        tables = sorted(row[0] for row in cursor.fetchall())
        cursor.execute(f"SELECT COUNT(*) FROM {SOURCE_DB}.ai_agent_chat_history")
        return tables, cursor.fetchone()[0]

    yield f"{MYSQL_URL.rsplit('/', 1)[0]}/{SOURCE_DB}", tables_and_rows
    cursor.execute(f"DROP DATABASE IF EXISTS {SOURCE_DB}")
    root.close()


def manage(*args, env):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.requires_services("mysql")
def test_source_database_refuses_migrations_and_writes(source_database, tmp_path):
    source_url, tables_and_rows = source_database
    env = hub_env(ESP32_DATABASE_URL=source_url, HUB_DATA_DIR=str(tmp_path))

    migrate = manage("migrate", "--database", "esp32", env=env)
    assert migrate.returncode != 0
    assert "read-only for the hub: it is never migrated" in migrate.stderr

    attempt_writes = """
from django.db import connections
cursor = connections["esp32"].cursor()
cursor.execute("SELECT content FROM ai_agent_chat_history")
print("read:", cursor.fetchone()[0])
for sql in ("INSERT INTO ai_agent_chat_history (chat_type, content) VALUES (2, 'x')",
            "UPDATE ai_agent_chat_history SET content = 'changed'",
            "CREATE TABLE hub_was_here (id INT)"):
    try:
        cursor.execute(sql)
        print("WRITE ALLOWED:", sql)
    except Exception as exc:
        print("refused:", exc)
"""
    shell = manage("shell", "-c", attempt_writes, env=env)
    assert shell.returncode == 0, shell.stderr
    assert "read: 你好 👋" in shell.stdout
    assert "WRITE ALLOWED" not in shell.stdout
    assert shell.stdout.count("READ ONLY transaction") == 3

    assert tables_and_rows() == (["ai_agent_chat_history"], 1)

    # The hub's own (fresh, unmigrated) database fails the doctor; the source passes.
    doctor = manage("hub_doctor", env=env)
    assert f"source_database  ok             mysql {SOURCE_DB}" in doctor.stdout
