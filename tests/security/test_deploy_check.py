"""`manage.py check --deploy` with the production environment docs/deploy.md documents."""

from __future__ import annotations

import re
import subprocess
import sys

from cryptography.fernet import Fernet
from django.core.management.utils import get_random_secret_key

from tests.deploy.docs import DEPLOY_DOCS, fenced_block
from tests.services import REPO

from .settings_env import clean_env


def documented_https_environment() -> dict[str, str]:
    """The "Behind HTTPS" block: the same in both languages, NAME=value lines."""
    english, chinese = (fenced_block(path, "https-env") for path in DEPLOY_DOCS)
    assert english == chinese, "docs/deploy.md and docs/deploy.zh-CN.md differ in the block"
    lines = [line.split("#", 1)[0].strip() for line in english.splitlines()]
    return dict(line.split("=", 1) for line in lines if line)


def check_deploy(tmp_path, environment: dict[str, str]) -> subprocess.CompletedProcess:
    # The documented key files, made as the guide says.
    keys = {
        "SECRET_KEY_FILE": get_random_secret_key(),
        "HUB_ENCRYPTION_KEY_FILE": Fernet.generate_key().decode(),
    }
    assert set(keys) == {name for name in environment if name.endswith("_FILE")}
    for name, key in keys.items():
        (tmp_path / name).write_text(key)
        environment = {**environment, name: str(tmp_path / name)}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=REPO,
        env=clean_env(tmp_path, **environment),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_documented_production_environment_passes_check_deploy(tmp_path):
    environment = documented_https_environment()
    assert environment["HUB_HTTPS"] == "true"
    assert environment["DEBUG"] == "false"
    result = check_deploy(tmp_path, environment)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr
    assert "WARNING" not in result.stdout + result.stderr


def test_without_https_check_deploy_names_what_is_missing(tmp_path):
    # The check above can fail: without HUB_HTTPS the same command warns.
    environment = {**documented_https_environment(), "HUB_HTTPS": "false"}
    result = check_deploy(tmp_path, environment)
    found = set(re.findall(r"security\.W\d+", result.stdout + result.stderr))
    assert {"security.W004", "security.W008", "security.W012", "security.W016"} <= found
