"""The command blocks of README.md and docs/*.md marked as runnable, and where they run.

A block is runnable when the line right before its opening fence is the marker
`<!-- runnable -->` and the fence is ```sh. The harness (test_runnable_docs.py)
runs a file's runnable blocks in order, as a newcomer would paste them into a
second terminal after `make run` has set the checkout up: see
docs/architecture.md, "Runnable documentation".
"""

from __future__ import annotations

import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.services import REPO

MARKER = "<!-- runnable -->"
DOCS = (REPO / "README.md", *sorted((REPO / "docs").glob("*.md")))
# The venv the suite runs in: `.venv` of the copies below points at it.
VENV = Path(sys.executable).parent.parent
# What a block may write next to manage.py: the copies hold these as real files
# (or not at all), never as links into the real checkout.
NOT_LINKED = {"data", ".git", ".env", "backups", "artifacts", "htmlcov", ".venv"}


def shown(path: Path) -> str:
    """A path as a message shows it: relative to the checkout when inside it."""
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # of the opening fence, 1-based
    text: str

    def where(self) -> str:
        return f"{shown(self.path)}:{self.line}"


_FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>\S*)\s*$")


def runnable_blocks(path: Path) -> list[Block]:
    """The runnable blocks of one Markdown file, in order; a marker before anything
    but a ```sh block is an error (it would be skipped silently otherwise)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks = []
    for number, line in enumerate(lines):
        if line.strip() != MARKER:
            continue
        fence = _FENCE.match(lines[number + 1]) if number + 1 < len(lines) else None
        if fence is None or fence["lang"] != "sh":
            raise ValueError(
                f"{shown(path)}:{number + 1}: {MARKER} must be followed by a ```sh block"
            )
        indent = len(fence["indent"])
        body = []
        for inner in lines[number + 2 :]:
            if inner.strip() == "```":
                break
            body.append(inner[indent:])
        else:
            raise ValueError(f"{shown(path)}:{number + 2}: the block is not closed")
        blocks.append(Block(path, number + 2, "\n".join(body) + "\n"))
    return blocks


def second_terminal(checkout: Path) -> dict[str, str]:
    """A fresh terminal's environment: nothing of this process, no venv on PATH.

    HUB_DATA_DIR is the one hub variable: the copy's `data` (the real checkout's
    settings would otherwise find the real ./data).
    """
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(checkout),
        "LANG": "C.UTF-8",
        "TMPDIR": str(checkout.parent),
        "HUB_DATA_DIR": str(checkout / "data"),
    }


def copy_of_checkout(target: Path) -> Path:
    """A checkout to run blocks in: links to the real one's files, its own `data`.

    manage.py resolves its link, so the code is the real checkout's; what a block
    writes (a config file, the database, the keys) stays in `target`.
    """
    target.mkdir(parents=True)
    for entry in REPO.iterdir():
        if entry.name not in NOT_LINKED:
            (target / entry.name).symlink_to(entry)
    (target / ".venv").symlink_to(VENV)
    return target


def copy_data(source: Path, checkout: Path) -> None:
    shutil.copytree(source, checkout / "data")
