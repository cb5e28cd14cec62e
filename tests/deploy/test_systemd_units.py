"""deploy/systemd: valid unit files that run exactly the README's process commands.

`systemd-analyze verify` (Debian's systemd; `make setup` installs it as root)
checks every unit as systemd would load it, with the install paths pointed at
this checkout so that the executables it checks exist. Without it the units are
still parsed and checked here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services import REPO, REQUIRE_SERVICES, documented_commands

UNITS = REPO / "deploy" / "systemd"
INSTALL_DIR = "/opt/xiaozhi-hub"
VENV_BIN = f"{INSTALL_DIR}/.venv/bin/"
ENV_FILE = "/etc/xiaozhi-hub/hub.env"
SERVICES = {"daphne": "web", "worker": "worker", "beat": "beat"}  # README program -> unit


def parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A unit file as {section: {key: [values]}} (keys may repeat, as in systemd)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, sep, value = line.partition("=")
        assert sep and current is not None and not line.endswith("\\"), f"{path.name}:{number}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def service(program: str) -> dict[str, list[str]]:
    return parse_unit(UNITS / f"xiaozhi-hub-{SERVICES[program]}.service")["Service"]


def test_the_units_are_the_three_services_and_a_target():
    names = sorted(path.name for path in UNITS.iterdir() if path.suffix in (".service", ".target"))
    assert names == [
        "xiaozhi-hub-beat.service",
        "xiaozhi-hub-web.service",
        "xiaozhi-hub-worker.service",
        "xiaozhi-hub.target",
    ]
    target = parse_unit(UNITS / "xiaozhi-hub.target")
    assert target["Unit"]["Wants"] == [
        "xiaozhi-hub-web.service xiaozhi-hub-worker.service xiaozhi-hub-beat.service"
    ]
    assert target["Install"]["WantedBy"] == ["multi-user.target"]


@pytest.mark.parametrize("program", SERVICES)
def test_exec_start_is_the_documented_command_from_the_venv(program):
    (exec_start,) = service(program)["ExecStart"]
    assert exec_start.startswith(VENV_BIN)
    assert exec_start.removeprefix(VENV_BIN) == documented_commands()[program]


def test_web_applies_the_migrations_first_and_the_workers_start_after_it():
    assert service("daphne")["ExecStartPre"] == [f"{VENV_BIN}python manage.py migrate --noinput"]
    for program in ("worker", "beat"):
        unit = parse_unit(UNITS / f"xiaozhi-hub-{program}.service")["Unit"]
        assert "xiaozhi-hub-web.service" in unit["After"][0].split(), program


@pytest.mark.parametrize("program", SERVICES)
def test_each_runs_as_its_own_user_from_an_env_file_and_restarts_on_failure(program):
    unit = service(program)
    assert unit["User"] == unit["Group"] == ["xiaozhi-hub"]
    assert unit["WorkingDirectory"] == [INSTALL_DIR]
    assert unit["EnvironmentFile"] == [ENV_FILE]
    assert unit["Restart"] == ["on-failure"]
    assert unit["StateDirectory"] == ["xiaozhi-hub"]
    assert "HUB_DATA_DIR=/var/lib/xiaozhi-hub" in unit["Environment"][0].split()


def test_the_worker_stops_gracefully():
    """SIGTERM to Celery's main process only, which closes the endpoint connections."""
    unit = service("worker")
    assert unit["KillMode"] == ["mixed"] and unit["TimeoutStopSec"] == ["30"]


def test_the_env_file_template_names_only_real_settings():
    readme = (REPO / "README.md").read_text()
    text = (UNITS / "hub.env.example").read_text()
    names = re.findall(r"^(?:# )?([A-Z][A-Z0-9_]*)=", text, re.M)
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL"} <= set(names)
    for name in names:
        assert f"| `{name}`" in readme, f"{name} is not a setting in the README's table"


def test_systemd_analyze_verify_accepts_every_unit(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        reason = "systemd-analyze is not installed (make setup installs Debian's systemd as root)"
        if REQUIRE_SERVICES:
            pytest.fail(f"HUB_REQUIRE_SERVICES=1 but {reason}")
        pytest.skip(reason)
    env_file = tmp_path / "hub.env"
    env_file.write_text("SECRET_KEY=x\n")
    venv = Path(sys.executable).parent  # its daphne, celery and python must exist
    for path in UNITS.iterdir():
        if path.suffix in (".service", ".target"):
            text = path.read_text().replace(ENV_FILE, str(env_file))
            text = text.replace(VENV_BIN, f"{venv}/").replace(INSTALL_DIR, str(REPO))
            (tmp_path / path.name).write_text(text)
    units = sorted(str(path) for path in tmp_path.glob("xiaozhi-hub*"))

    result = subprocess.run(
        [analyze, "verify", "--man=no", *units], capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    # Unknown keys and bad values are only warnings: none may be printed.
    ours = [line for line in result.stderr.splitlines() if "xiaozhi-hub" in line]
    assert ours == [], result.stderr
