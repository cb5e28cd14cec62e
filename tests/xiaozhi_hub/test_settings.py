"""The settings module as a whole: a bad environment stops the hub with one clear line."""

import subprocess
import sys

import pytest

from tests.services import REPO, hub_env


def manage_check(tmp_path, **env):
    environment = hub_env(HUB_DATA_DIR=str(tmp_path), **env)
    for name in [k for k, v in env.items() if v is None]:
        environment.pop(name)
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "env, message",
    [
        ({"SECRET_KEY": None}, "SECRET_KEY (or SECRET_KEY_FILE) is required when DEBUG is off"),
        ({"DEBUG": "sometimes"}, "DEBUG must be true or false"),
        ({"HUB_SYNC_INTERVAL": "half a minute"}, "HUB_SYNC_INTERVAL must be a whole number"),
        ({"CSRF_TRUSTED_ORIGINS": "hub.example.org"}, "CSRF_TRUSTED_ORIGINS entries must start"),
        ({"REDIS_URL": "redis://:pw-in-url@cache:63x9/0"}, "REDIS_URL is not a valid URL"),
        ({"ESP32_DATABASE_URL": "sqlite:////tmp/x.db"}, "ESP32_DATABASE_URL must be a mysql://"),
    ],
)
def test_bad_environment_gives_one_clear_line(tmp_path, env, message):
    result = manage_check(tmp_path, **env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("configuration error: ")
    assert message in lines[0]
    assert "Traceback" not in result.stderr and "pw-in-url" not in result.stderr


def test_good_environment_passes_the_system_checks(tmp_path):
    result = manage_check(tmp_path, DEBUG="false", HUB_SYNC_INTERVAL="45")
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout
