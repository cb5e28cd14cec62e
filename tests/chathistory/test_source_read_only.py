"""The `source_readonly` check on the real MariaDB, with the user docs/deploy.md creates.

The snippet is read from the guide (both languages carry the same one) and run as
written, with only the user, password and database renamed so that parallel runs
never share them. The check must call that user read-only, and root a user that
can write.
"""

from __future__ import annotations

import os
from urllib.parse import quote, urlsplit

import MySQLdb
import pytest
from django.core.management import call_command

from tests.deploy.docs import read_only_user_sql
from tests.services import MYSQL_URL

from .source_schema import SourceDatabase, source_name_for

pytestmark = [pytest.mark.requires_services("mysql"), pytest.mark.django_db]

DOC_USER, DOC_DATABASE, DOC_PASSWORD = (
    "hub_reader",
    "xiaozhi_esp32_server",
    "a-long-random-password",
)
PASSWORD = "reader pw/@:% not shown"  # characters a URL must escape


@pytest.fixture
def reader_source():
    """A source database and the guide's read-only user on it; (database, reader's URL)."""
    database = SourceDatabase(MYSQL_URL, name=source_name_for(MYSQL_URL) + "_ro")
    database.create()
    user = f"hub_ro_{os.getpid()}"
    sql = read_only_user_sql()
    for placeholder in (DOC_USER, DOC_DATABASE, DOC_PASSWORD):
        assert placeholder in sql, f"the guide's snippet no longer names {placeholder!r}"
    sql = (
        sql.replace(DOC_USER, user)
        .replace(DOC_DATABASE, database.name)
        .replace(DOC_PASSWORD, PASSWORD.replace("'", "''"))
    )
    root = database.connect(database=False, autocommit=True)
    cursor = root.cursor()
    cursor.execute(f"DROP USER IF EXISTS '{user}'@'%'")
    for statement in filter(str.strip, sql.split(";")):
        cursor.execute(statement)
    server = urlsplit(MYSQL_URL)
    url = f"mysql://{user}:{quote(PASSWORD, safe='')}@{server.hostname}:{server.port or 3306}"
    try:
        yield database, f"{url}/{database.name}"
    finally:
        cursor.execute(f"DROP USER IF EXISTS '{user}'@'%'")
        root.close()
        database.drop()


def test_the_guides_user_reads_but_cannot_write_and_the_check_says_so(
    reader_source, source_at, client
):
    database, url = reader_source
    database.write(content="你好")
    parts = urlsplit(url)
    reader = MySQLdb.connect(
        host=parts.hostname,
        port=parts.port,
        user=parts.username,
        passwd=PASSWORD,
        db=database.name,
        charset="utf8mb4",
    )
    try:
        cursor = reader.cursor()
        cursor.execute("SELECT content FROM ai_agent_chat_history")
        assert cursor.fetchall() == (("你好",),)
        # Without the hub's READ ONLY session: the grants alone refuse the write.
        with pytest.raises(MySQLdb.OperationalError, match="INSERT command denied"):
            cursor.execute("INSERT INTO ai_agent_chat_history (chat_type, content) VALUES (2, 'x')")
    finally:
        reader.close()

    source_at(url)
    response = client.get("/api/health")

    assert response.status_code == 200
    body = response.json()
    # Beat has not ticked in this test (sync_schedule, tests/xiaozhi_hub/test_health_workers.py):
    # nothing about the source may be among the reasons.
    assert not [reason for reason in body.get("reasons", []) if reason.startswith("source")], body
    check = body["checks"]["source_readonly"]
    assert check["status"] == "ok" and check["required"] is False, check
    assert check["detail"] == f"read-only: {parts.username}@% cannot write {database.name}"
    assert body["checks"]["source_database"]["status"] == "ok"
    assert PASSWORD not in response.content.decode()


def test_root_as_the_source_user_can_write_and_the_doctor_says_so(reader_source, source_at, capsys):
    database, _ = reader_source
    source_at(database.url)  # the test server's root: ALL PRIVILEGES on *.*

    call_command("hub_doctor")  # optional: the hub still counts as working

    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("source_readonly"))
    assert "error" in line and "(optional)" in line
    assert "the source user root@" in line and " can write: ALL PRIVILEGES on *.*" in line
    assert "Use a read-only user (docs/deploy.md)" in line
    assert "overall: degraded" in out
