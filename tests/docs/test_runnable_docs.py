"""Every runnable command block of the README and the guides works as written.

Each Markdown file's `<!-- runnable -->` ```sh blocks run in order, each in
its own `bash -e -o pipefail`, in a fresh copy of the checkout whose `data` is
what a first `make run` left behind (its keys, the migrated SQLite database),
from a second terminal's environment: no venv activated, no SECRET_KEY. A block
passes when it exits 0, leaves no process running and prints neither a
traceback nor the warning a laptop without an encryption key gets. The rules:
docs/architecture.md, "Runnable documentation".
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import urllib.request

import pytest

from tests.services import REPO, group_alive, start_listening, stop

from .runnable import (
    DOCS,
    MARKER,
    VENV,
    Block,
    copy_data,
    copy_of_checkout,
    runnable_blocks,
    second_terminal,
)

BLOCK_TIMEOUT = 90
STOP_TIMEOUT = 20  # runhub's own caps (tests/xiaozhi_hub/test_runhub.py) and slack
FILES = [path for path in DOCS if runnable_blocks(path)]
# What a newcomer runs after `make run`: each must be in some runnable block.
NEWCOMER_STEPS = (
    "manage.py createsuperuser",
    "manage.py hub_doctor",
    "manage.py api_token create",
    "manage.py endpoint_add",
    "manage.py endpoints_list",
    "manage.py import_xiaozhi_config",
    "/xiaozhi/agent/chat-history/report",
    "manage.py export_chat_history",
    "manage.py chat_stats",
)
# Guides for a laptop (not the deployment guides, whose commands run in a container
# or under systemd): `python manage.py` alone is no command in a fresh terminal.
BARE_PYTHON = re.compile(r"(?<![\w/.-])python3? manage\.py")
DEPLOY_DOCS = {"deploy.md", "deploy.zh-CN.md"}


@pytest.fixture(scope="module")
def data_after_make_run(tmp_path_factory):
    """The `data` a newcomer's first `make run` leaves: its keys and the migrated
    database. It runs for real, in the real checkout with HUB_DATA_DIR here, and
    stops as a newcomer stops it: Ctrl-C."""
    home = tmp_path_factory.mktemp("first-run")
    log = home / "make-run.log"
    # -o: the suite's venv is installed, whatever pyproject.toml's time stamp says.
    make_run = ["make", f"VENV={VENV}", "-o", f"{VENV}/.installed-stamp", "run"]
    hub, port = start_listening(
        lambda port: [*make_run, f"PORT={port}"], second_terminal(home), log
    )
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=10) as answer:
            assert json.load(answer)["checks"]["database"]["status"] == "ok"
    finally:
        os.killpg(hub.pid, signal.SIGINT)  # Ctrl-C in make run's terminal
        try:
            hub.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
        _, clean = stop(hub)
    output = log.read_text(errors="replace")
    assert clean, f"make run did not stop on Ctrl-C:\n{output[-3000:]}"
    assert "HUB_ENCRYPTION_KEY is not set" not in output  # a laptop has its key
    made = {path.name for path in (home / "data").iterdir()}
    assert made >= {"secret_key", "encryption_key", "hub.sqlite3"}, made
    return home / "data"


def run_block(block: Block, checkout, log) -> tuple[int | None, str, bool]:
    """(exit status or None on timeout, output, whether it left processes running)."""
    with log.open("w") as out:
        # Output to a file, not a pipe (a background process of the block would hold a
        # pipe open); a process group of its own, so that nothing it starts outlives it.
        process = subprocess.Popen(
            ["bash", "-e", "-o", "pipefail", "-c", block.text],
            cwd=checkout,
            env=second_terminal(checkout),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            status = process.wait(BLOCK_TIMEOUT)
        except subprocess.TimeoutExpired:
            status = None
    leftover = group_alive(process.pid)
    if leftover or status is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return status, log.read_text(errors="replace"), leftover


@pytest.mark.parametrize("path", FILES, ids=lambda path: str(path.relative_to(REPO)))
def test_runnable_blocks_work_as_written(path, data_after_make_run, tmp_path):
    checkout = copy_of_checkout(tmp_path / "checkout")
    copy_data(data_after_make_run, checkout)
    for number, block in enumerate(runnable_blocks(path), start=1):
        status, output, leftover = run_block(block, checkout, tmp_path / f"block-{number}.log")
        shown = f"{block.where()}\n{block.text}--- output ---\n{output[-4000:]}"
        assert status is not None, f"timed out after {BLOCK_TIMEOUT} s: {shown}"
        assert status == 0, f"exit {status}: {shown}"
        assert not leftover, f"the block left processes running (stop what it starts): {shown}"
        assert "Traceback" not in output, shown
        assert "HUB_ENCRYPTION_KEY is not set" not in output, shown


def test_the_newcomer_path_is_runnable():
    marked = "".join(block.text for path in DOCS for block in runnable_blocks(path))
    missing = [step for step in NEWCOMER_STEPS if step not in marked]
    assert not missing, f"no {MARKER} block runs {missing}"


def test_markers_sit_right_before_a_sh_block(tmp_path):
    broken = tmp_path / "broken.md"
    broken.write_text(f"text\n{MARKER}\n```json\n{{}}\n```\n")
    with pytest.raises(ValueError, match=r"must be followed by a ```sh block"):
        runnable_blocks(broken)
    unclosed = tmp_path / "unclosed.md"
    unclosed.write_text(f"{MARKER}\n```sh\necho hi\n")
    with pytest.raises(ValueError, match="not closed"):
        runnable_blocks(unclosed)


@pytest.mark.parametrize(
    "path",
    [path for path in DOCS if path.name not in DEPLOY_DOCS],
    ids=lambda path: str(path.relative_to(REPO)),
)
def test_laptop_guides_never_say_bare_python(path):
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        for match in BARE_PYTHON.finditer(line):
            before = line[: match.start()]
            if before.rstrip().endswith(("exec web", "exec -T web")):
                continue  # inside the container, `python` is the hub's
            pytest.fail(
                f"{path.relative_to(REPO)}:{number}: `python manage.py` is no command in a "
                f"fresh terminal; write `.venv/bin/python manage.py` (README, "
                f'"Commands in another terminal"): {line.strip()}'
            )
