"""The committed catalogs are current: `manage.py makemessages` run on a copy of the
project finds no message the .po files lack, and the .po files keep none the code
dropped. A string wrapped for translation but never added to the catalog would show
in English on a Chinese page; this names it."""

from __future__ import annotations

import shutil
import subprocess
import sys

import polib

from tests.i18n.catalog import DOMAINS, LOCALE
from tests.services import REPO, hub_env

NOT_COPIED = (".venv", ".git", "htmlcov", "artifacts", "data", "backups", "node_modules")


def msgids(path) -> set[str]:
    return {entry.msgid for entry in polib.pofile(str(path)) if not entry.obsolete}


def test_makemessages_finds_nothing_the_catalogs_lack(tmp_path):
    copy = tmp_path / "hub"
    shutil.copytree(REPO, copy, ignore=shutil.ignore_patterns(*NOT_COPIED, "__pycache__", "*.mo"))
    for domain in DOMAINS:
        subprocess.run(
            [sys.executable, "manage.py", "makemessages", "-l", "zh_Hans", "-d", domain],
            cwd=copy,
            env=hub_env(),
            capture_output=True,
            check=True,
            timeout=120,
        )
    relative = LOCALE.relative_to(REPO)
    for domain in DOMAINS:
        committed = msgids(LOCALE / f"{domain}.po")
        found = msgids(copy / relative / f"{domain}.po")
        assert sorted(found - committed) == [], f"{domain}.po lacks these messages"
        assert sorted(committed - found) == [], f"{domain}.po keeps messages no code uses"
