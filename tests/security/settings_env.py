"""The hub's settings as a fresh process reads them from a given environment.

Settings are read once, at import: the honest way to see what an environment
variable does is a new interpreter with exactly that environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.services import REPO

DUMP = """
import json, django
from django.conf import settings
django.setup()
names = {names!r}
print(json.dumps({{name: getattr(settings, name, None) for name in names}}, default=str))
"""


def clean_env(tmp_path, **variables: str) -> dict[str, str]:
    """Production settings with nothing from this process but PATH and the given variables."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "xiaozhi_hub.settings",
        "HUB_DATA_DIR": str(tmp_path / "data"),
        "PYTHONUNBUFFERED": "1",
        **variables,
    }


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def settings_from(tmp_path, names: list[str], **variables: str) -> dict:
    env = clean_env(tmp_path, SECRET_KEY="settings-test-" + "x" * 50, **variables)
    result = run_python(DUMP.format(names=names), env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])
