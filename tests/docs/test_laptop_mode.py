"""Laptop mode: `make run` keeps its keys in the data directory, every process finds them.

A newcomer starts `make run`, then types `.venv/bin/python manage.py ...` in
another terminal, where SECRET_KEY is not set: laptop mode (no DATABASE_URL)
reads HUB_DATA_DIR/secret_key and HUB_DATA_DIR/encryption_key. A production
environment (DATABASE_URL set) never does: without SECRET_KEY it refuses to
start, whatever files lie around.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.security.settings_env import DUMP, run_python

from .runnable import copy_of_checkout, second_terminal

NAMES = ["SECRET_KEY", "HUB_ENCRYPTION_KEYS"]
PRODUCTION_DB = {"DATABASE_URL": "mysql://hub:pw@127.0.0.1:3306/hub"}


def make_keys(checkout: Path) -> tuple[str, str]:
    done = subprocess.run(
        ["make", "-s", "keys"],
        cwd=checkout,
        env=second_terminal(checkout),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    data = checkout / "data"
    for name in ("secret_key", "encryption_key"):
        assert (data / name).stat().st_mode & 0o777 == 0o600  # readable by you only
    return (data / "secret_key").read_text().strip(), (data / "encryption_key").read_text().strip()


def settings_in(checkout: Path, **variables: str) -> subprocess.CompletedProcess:
    return run_python(DUMP.format(names=NAMES), {**second_terminal(checkout), **variables})


def test_another_terminal_reads_the_keys_make_run_made(tmp_path):
    checkout = copy_of_checkout(tmp_path / "checkout")
    secret_key, encryption_key = make_keys(checkout)
    again = make_keys(checkout)  # never replaced: the stored secrets depend on them
    assert again == (secret_key, encryption_key)

    result = settings_in(checkout, DJANGO_SETTINGS_MODULE="xiaozhi_hub.settings")
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found == {"SECRET_KEY": secret_key, "HUB_ENCRYPTION_KEYS": [encryption_key]}
    assert "HUB_ENCRYPTION_KEY is not set" not in result.stderr

    # What the operator sets wins over the files.
    result = settings_in(
        checkout, DJANGO_SETTINGS_MODULE="xiaozhi_hub.settings", SECRET_KEY="x" * 50
    )
    assert json.loads(result.stdout.strip().splitlines()[-1])["SECRET_KEY"] == "x" * 50


def test_production_never_reads_key_files_and_refuses_without_secret_key(tmp_path):
    checkout = copy_of_checkout(tmp_path / "checkout")
    make_keys(checkout)
    env = {"DJANGO_SETTINGS_MODULE": "xiaozhi_hub.settings", **PRODUCTION_DB}

    refused = settings_in(checkout, **env)
    assert refused.returncode != 0
    assert "SECRET_KEY (or SECRET_KEY_FILE) is required when DEBUG is off" in refused.stderr

    # With its SECRET_KEY, production still ignores the laptop's encryption key.
    started = settings_in(checkout, **env, SECRET_KEY="production-" + "x" * 50)
    assert started.returncode == 0, started.stderr
    found = json.loads(started.stdout.strip().splitlines()[-1])
    assert found["HUB_ENCRYPTION_KEYS"] == []


def test_an_empty_laptop_key_file_is_named_in_the_error(tmp_path):
    checkout = copy_of_checkout(tmp_path / "checkout")
    (checkout / "data").mkdir()
    (checkout / "data" / "secret_key").write_text("\n")
    result = settings_in(checkout, DJANGO_SETTINGS_MODULE="xiaozhi_hub.settings")
    assert result.returncode != 0
    assert "(laptop mode), which is empty" in result.stderr
    assert str(checkout / "data" / "secret_key") in result.stderr


# Two writers at once on the laptop's SQLite, as `make run` (pool heartbeats, the
# schedule, a report) and a command in another terminal are: the second one's
# transaction reads, then writes while the first holds the write lock.
CONCURRENT_WRITERS = """
import threading, time, django
django.setup()
from django.db import connection, transaction

with connection.cursor() as cursor:
    cursor.execute("CREATE TABLE hits (n integer)")
holding = threading.Event()

def first():
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO hits VALUES (1)")
        holding.set()
        time.sleep(1)
    connection.close()

thread = threading.Thread(target=first)
thread.start()
holding.wait()
with transaction.atomic():
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM hits")
        cursor.execute("INSERT INTO hits VALUES (2)")
thread.join()
with connection.cursor() as cursor:
    cursor.execute("SELECT count(*) FROM hits")
    print(cursor.fetchone()[0])
"""


def test_laptop_sqlite_writers_wait_for_each_other_instead_of_failing(tmp_path):
    checkout = copy_of_checkout(tmp_path / "checkout")
    make_keys(checkout)
    result = run_python(
        CONCURRENT_WRITERS,
        {**second_terminal(checkout), "DJANGO_SETTINGS_MODULE": "xiaozhi_hub.settings"},
    )
    assert "database is locked" not in result.stderr
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "2"
