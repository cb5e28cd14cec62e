import pytest
from django.core.exceptions import ImproperlyConfigured

from xiaozhi_hub.env import env_bool, env_database, env_int, env_list, env_secret, env_url


@pytest.mark.parametrize(
    "raw, expected", [("true", True), ("On", True), ("0", False), ("no", False)]
)
def test_env_bool_reads_common_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("DEBUG", raw)
    assert env_bool("DEBUG", not expected) is expected


def test_env_bool_default_when_unset_or_blank(monkeypatch):
    monkeypatch.setenv("DEBUG", "  ")
    assert env_bool("DEBUG", True) is True


def test_env_bool_refuses_other_values(monkeypatch):
    monkeypatch.setenv("DEBUG", "maybe")
    with pytest.raises(ImproperlyConfigured, match=r"DEBUG must be true or false.*'maybe'"):
        env_bool("DEBUG", False)


def test_env_int_refuses_non_integers_and_small_values(monkeypatch):
    monkeypatch.setenv("HUB_SYNC_INTERVAL", "30s")
    with pytest.raises(ImproperlyConfigured, match=r"HUB_SYNC_INTERVAL must be a whole number"):
        env_int("HUB_SYNC_INTERVAL", 30)
    monkeypatch.setenv("HUB_SYNC_INTERVAL", "0")
    with pytest.raises(ImproperlyConfigured, match=r"HUB_SYNC_INTERVAL must be at least 1, got 0"):
        env_int("HUB_SYNC_INTERVAL", 30, minimum=1)
    monkeypatch.setenv("HUB_SYNC_INTERVAL", "45")
    assert env_int("HUB_SYNC_INTERVAL", 30, minimum=1) == 45


def test_env_list_splits_and_trims(monkeypatch):
    monkeypatch.setenv("ALLOWED_HOSTS", " hub.example.org , ,localhost")
    assert env_list("ALLOWED_HOSTS", []) == ["hub.example.org", "localhost"]


def test_env_secret_from_file(monkeypatch, tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-a-file\n")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("SECRET_KEY_FILE", str(secret_file))
    assert env_secret("SECRET_KEY") == "from-a-file"


def test_env_secret_refuses_missing_empty_or_double_sources(monkeypatch, tmp_path):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("SECRET_KEY_FILE", str(tmp_path / "absent"))
    with pytest.raises(ImproperlyConfigured, match=r"SECRET_KEY_FILE points at .*cannot be read"):
        env_secret("SECRET_KEY")
    (tmp_path / "empty").write_text("")
    monkeypatch.setenv("SECRET_KEY_FILE", str(tmp_path / "empty"))
    with pytest.raises(ImproperlyConfigured, match=r"SECRET_KEY_FILE .* is empty"):
        env_secret("SECRET_KEY")
    monkeypatch.setenv("SECRET_KEY", "direct")
    with pytest.raises(ImproperlyConfigured, match=r"either SECRET_KEY or SECRET_KEY_FILE"):
        env_secret("SECRET_KEY")


@pytest.mark.parametrize(
    "url, message",
    [
        ("http://127.0.0.1:6379/0", r"REDIS_URL must start with redis://, rediss://"),
        ("redis://127.0.0.1:port/0", r"REDIS_URL is not a valid URL"),
        ("redis:///0", r"REDIS_URL has no host"),
    ],
)
def test_env_url_refuses_malformed_urls(monkeypatch, url, message):
    monkeypatch.setenv("REDIS_URL", url)
    with pytest.raises(ImproperlyConfigured, match=message):
        env_url("REDIS_URL", schemes=("redis", "rediss"))


def test_env_url_error_masks_the_password(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "http://:hunter2secret@cache:6379/0")
    with pytest.raises(ImproperlyConfigured) as error:
        env_url("REDIS_URL", schemes=("redis",))
    assert "hunter2secret" not in str(error.value)
    assert "http://:***@cache:6379/0" in str(error.value)


def test_env_database_mysql_is_utf8mb4_and_strict(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "mysql://hub:pw@db.internal:3307/hub")
    config = env_database("DATABASE_URL")
    assert config["ENGINE"] == "django.db.backends.mysql"
    assert (config["HOST"], config["PORT"], config["NAME"], config["USER"]) == (
        "db.internal",
        3307,
        "hub",
        "hub",
    )
    assert config["OPTIONS"]["charset"] == "utf8mb4"
    assert "STRICT_TRANS_TABLES" in config["OPTIONS"]["init_command"]


def test_env_database_defaults_to_sqlite(monkeypatch, tmp_path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    config = env_database("DATABASE_URL", default_sqlite=tmp_path / "hub.sqlite3")
    assert config["ENGINE"] == "django.db.backends.sqlite3"
    assert config["NAME"] == str(tmp_path / "hub.sqlite3")


@pytest.mark.parametrize(
    "url, message",
    [
        ("postgres://u:topsecretpw@h/db", r"DATABASE_URL must be mysql://"),
        ("mysql://u:topsecretpw@h:notaport/db", r"DATABASE_URL is not a valid URL"),
        ("mysql://u:topsecretpw@h:3306/", r"DATABASE_URL names no database"),
        ("hub.sqlite3", r"DATABASE_URL must be mysql://"),
    ],
)
def test_env_database_refuses_bad_urls_without_leaking_passwords(monkeypatch, url, message):
    monkeypatch.setenv("DATABASE_URL", url)
    with pytest.raises(ImproperlyConfigured, match=message) as error:
        env_database("DATABASE_URL")
    assert "topsecretpw" not in str(error.value)
