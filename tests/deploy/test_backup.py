"""`make backup`: the hub's own database, copied safely, the password never shown.

Run as an operator would, through make: on SQLite (the file in HUB_DATA_DIR,
with the settings read from a systemd env file) and on the real MariaDB (a dump
that restores into an identical database).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, urlsplit

import MySQLdb
import pytest

from tests.services import MYSQL_URL, REPO

VENV = Path(sys.executable).parent.parent
HUB_DB = urlsplit(MYSQL_URL).path.lstrip("/") or "hub"
# Characters an option file must escape, and one a URL must.
PASSWORD = 'bk "pw" \\ #; @ not shown'


def make_backup(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "HUB_DATA_DIR", "ENV_FILE", "MAKEFLAGS", "MFLAGS"}
    }
    tmpdir = tmp_path / "tmpdir"
    tmpdir.mkdir(exist_ok=True)
    clean.update(BACKUP_DIR=str(tmp_path / "backups"), TMPDIR=str(tmpdir), **env)
    return subprocess.run(
        ["make", "-s", f"VENV={VENV}", "backup"],
        cwd=REPO,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
    )


def the_backup(result: subprocess.CompletedProcess, suffix: str) -> Path:
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith("backup: ") and first.endswith(" bytes)"), result.stdout
    path = Path(first.removeprefix("backup: ").rsplit(" (", 1)[0])
    assert path.name.startswith("hub-") and path.suffix == suffix
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700
    assert "SECRET_KEY" in result.stdout  # the reminder of what else to keep
    return path


def test_sqlite_is_copied_through_the_backup_api_without_half_written_changes(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    hub = sqlite3.connect(data / "hub.sqlite3")
    hub.execute("CREATE TABLE message (id INTEGER PRIMARY KEY, content TEXT)")
    hub.execute("INSERT INTO message (content) VALUES ('你好'), ('hello')")
    hub.commit()
    # A write in progress, not committed: the copy must not contain it.
    hub.execute("BEGIN IMMEDIATE")
    hub.execute("INSERT INTO message (content) VALUES ('uncommitted')")
    env_file = tmp_path / "hub.env"  # systemd EnvironmentFile syntax
    env_file.write_text(f'# the hub\nHUB_DATA_DIR="{data}"\nSECRET_KEY=unused\n')
    try:
        result = make_backup(tmp_path, ENV_FILE=str(env_file))
    finally:
        hub.rollback()
        hub.close()

    copy = sqlite3.connect(the_backup(result, ".sqlite3"))
    assert copy.execute("SELECT content FROM message ORDER BY id").fetchall() == [
        ("你好",),
        ("hello",),
    ]
    copy.close()


def test_a_missing_sqlite_file_is_an_error_not_an_empty_backup(tmp_path):
    result = make_backup(tmp_path, HUB_DATA_DIR=str(tmp_path / "nowhere"))
    assert result.returncode != 0
    assert "hub.sqlite3 does not exist: nothing to back up" in result.stderr
    assert not (tmp_path / "backups").exists() or not any((tmp_path / "backups").iterdir())


@pytest.fixture
def mysql_hub():
    """A hub database on the real MariaDB with its own password-protected user."""
    parts = urlsplit(MYSQL_URL)
    server = {"host": parts.hostname, "port": parts.port or 3306, "user": parts.username or "root"}
    root = MySQLdb.connect(**server, passwd=parts.password or "", charset="utf8mb4")
    root.autocommit(True)
    cursor = root.cursor()
    source, restored, user = (
        f"{HUB_DB}_backup_src",
        f"{HUB_DB}_backup_restored",
        f"hub_bk_{os.getpid()}",
    )
    for name in (source, restored):
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    cursor.execute(
        f"CREATE TABLE `{source}`.message (id INT AUTO_INCREMENT PRIMARY KEY, content TEXT) "
        "CHARACTER SET utf8mb4"
    )
    cursor.execute(
        f"INSERT INTO `{source}`.message (content) VALUES (%s), (%s)", ("你好 👋", "hello")
    )
    cursor.execute(f"DROP USER IF EXISTS '{user}'@'%'")
    cursor.execute(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (PASSWORD,))
    cursor.execute(f"GRANT ALL PRIVILEGES ON `{source}`.* TO '{user}'@'%'")
    url = f"mysql://{user}:{quote(PASSWORD, safe='')}@{server['host']}:{server['port']}/{source}"
    try:
        yield url, cursor, restored
    finally:
        cursor.execute(f"DROP USER IF EXISTS '{user}'@'%'")
        for name in (source, restored):
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        root.close()


@pytest.mark.requires_services("mysql")
def test_mysql_is_dumped_in_one_transaction_and_restores(tmp_path, mysql_hub):
    url, cursor, restored = mysql_hub

    result = make_backup(tmp_path, DATABASE_URL=url)

    dump = the_backup(result, ".sql")
    assert PASSWORD not in result.stdout + result.stderr
    assert quote(PASSWORD, safe="") not in result.stdout + result.stderr
    assert not any((tmp_path / "tmpdir").iterdir()), "the option file was left behind"
    parts = urlsplit(MYSQL_URL)
    with dump.open("rb") as sql:
        subprocess.run(
            [
                "mariadb",
                "-h",
                parts.hostname,
                "-P",
                str(parts.port or 3306),
                "-u",
                "root",
                restored,
            ],
            stdin=sql,
            check=True,
            timeout=60,
        )
    cursor.execute(f"SELECT id, content FROM `{restored}`.message ORDER BY id")
    assert cursor.fetchall() == ((1, "你好 👋"), (2, "hello"))


@pytest.mark.requires_services("mysql")
def test_a_failed_dump_leaves_no_file_and_shows_no_password(tmp_path, mysql_hub):
    url, _, _ = mysql_hub
    wrong = "wrong-" + quote(PASSWORD, safe="")
    result = make_backup(tmp_path, DATABASE_URL=url.replace(quote(PASSWORD, safe=""), wrong))

    assert result.returncode != 0
    assert (
        "make backup: mariadb-dump failed:" in result.stderr or "mysqldump failed" in result.stderr
    )
    assert "Access denied" in result.stderr
    assert not any((tmp_path / "backups").iterdir())
    assert "wrong-" not in result.stdout + result.stderr
    assert not any((tmp_path / "tmpdir").iterdir())
