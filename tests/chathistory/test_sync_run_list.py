"""The run list of the console's sync page (chathistory.selectors.sync_runs): each run's
duration, and each streak of quiet runs (no new rows, not failed) folded into one entry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chathistory import selectors
from chathistory.models import RunStatus, SyncRun

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)


def runs(*specs: tuple[str, int]) -> list[int]:
    """Runs 30 s apart, oldest first, each (status, rows written), lasting 6 ms."""
    ids = []
    for n, (status, written) in enumerate(specs):
        run = SyncRun.objects.create(status=status, rows_read=written, rows_written=written)
        started = T0 + timedelta(seconds=30 * n)
        finished = None if status == RunStatus.IN_PROGRESS else started + timedelta(milliseconds=6)
        SyncRun.objects.filter(pk=run.pk).update(started_at=started, finished_at=finished)
        ids.append(run.pk)
    return ids


def test_quiet_streaks_fold_into_one_entry_and_every_run_has_its_duration():
    quiet = (RunStatus.SUCCESS, 0)
    ids = runs(
        (RunStatus.SUCCESS, 5),
        quiet,
        (RunStatus.FAILED, 0),
        *[quiet] * 4,
        (RunStatus.SKIPPED, 0),
        (RunStatus.SUCCESS, 2),
        *[quiet] * 3,
        (RunStatus.IN_PROGRESS, 0),
    )
    entries = selectors.sync_runs(limit=10)
    assert [(e["id"], e.get("folded", {}).get("count")) for e in entries] == [
        (ids[12], None),  # running: never folded
        (ids[11], 3),
        (ids[8], None),  # wrote rows
        (ids[7], 5),  # a skipped run found nothing new either
        (ids[2], None),  # failed
        (ids[1], None),  # a lone quiet run stays a plain entry
        (ids[0], None),
    ]
    assert entries[0]["duration_ms"] is None and entries[2]["duration_ms"] == 6
    folded = entries[3]["folded"]
    assert folded["more"] is False
    assert folded["first_started_at"] == (T0 + timedelta(seconds=90)).isoformat(
        timespec="milliseconds"
    )
    assert [r["id"] for r in folded["runs"]] == [ids[7], ids[6], ids[5], ids[4], ids[3]]
    assert folded["runs"][0] == {
        "id": ids[7],
        "source": "esp32",
        "started_at": (T0 + timedelta(seconds=210)).isoformat(timespec="milliseconds"),
        "duration_ms": 6,
        "status": "skipped",
        "rows_read": 0,
    }

    assert [e["id"] for e in selectors.sync_runs(limit=2)] == [ids[12], ids[11]]


def test_a_streak_longer_than_the_runs_looked_at_says_there_are_more(monkeypatch):
    monkeypatch.setattr(selectors, "SYNC_RUNS_SCAN", 30)
    ids = runs(*[(RunStatus.SUCCESS, 0)] * 31)
    (entry,) = selectors.sync_runs(limit=10)
    assert entry["id"] == ids[-1]
    assert entry["folded"]["count"] == 30 and entry["folded"]["more"] is True
    assert len(entry["folded"]["runs"]) == selectors.FOLDED_RUNS_LISTED
