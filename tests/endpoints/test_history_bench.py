"""bench/history_cost.py in its short mode: two real workers, 20 endpoints each, a few
seconds; the table prints with every row (the full run is `make bench NAME=history_cost`)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from endpoints.models import Endpoint
from tests.services import REDIS_URL, REPO, hub_database_url, hub_env

pytestmark = [
    pytest.mark.requires_services("mysql", "redis"),
    pytest.mark.django_db(transaction=True),
]


def test_the_benchmark_prints_its_table_in_short_mode():
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.history_cost",
            "--endpoints",
            "20",
            "--seconds",
            "4",
            "--warmup",
            "1",
            "--rounds",
            "1",
            "--no-migrate",
            "--database-url",
            hub_database_url(),
            "--redis-url",
            REDIS_URL,
        ],  # fmt: skip
        cwd=REPO,
        env=hub_env(),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("health history cost benchmark")
    header = next(line for line in lines if line.startswith("measure"))
    assert header.split() == ["measure", "with", "without", "difference", "target"]
    for measure in (
        "worker CPU s/min (20 endpoints, 1 s pings)",
        "DB write statements/s, all",
        "DB write statements/s, rollup tables",
        "rows/s the rollup statements touched",
    ):
        (row,) = [line for line in lines if measure in line]
        assert any(ch.isdigit() for ch in row.replace(measure, "")), row
    assert not Endpoint.objects.exists()  # the bench removed its endpoints
