"""The chat-history history (docs/chat-history.md, "History"): real report posts count as
accepted / rejected in their minute, real sync runs (one that copies, one that fails on
the source) fill the sync buckets with runs, rows and lag; GET /api/v2/sync/history."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from chathistory.history_services import ingest_count
from chathistory.models import IngestBucket, SyncBucket
from chathistory.sync import run_sync

URL = "/xiaozhi/agent/chat-history/report"
SECRET = "history-report-secret"


def post_report(client, body, *, token=SECRET):
    data = body if isinstance(body, str) else json.dumps(body)
    return client.post(
        URL, data, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )


def report(n: int) -> dict:
    return {
        "macAddress": "aa:bb:cc:dd:ee:01",
        "sessionId": "s1",
        "chatType": 1,
        "content": f"message {n}",
        "reportTime": int(time.time() * 1000) + n,
    }


def totals(model, *names) -> tuple:
    return tuple(sum(getattr(row, name) for row in model.objects.all()) for name in names)


@pytest.mark.django_db
def test_report_posts_count_as_accepted_and_rejected_per_minute(client, settings):
    settings.HUB_REPORT_SECRET = SECRET
    for n in range(3):
        assert post_report(client, report(n)).status_code == 200
    assert post_report(client, report(0)).status_code == 200  # a retry: answered, accepted
    assert post_report(client, report(4), token="wrong").status_code == 401
    assert post_report(client, "{not json").status_code == 400

    assert totals(IngestBucket, "accepted", "rejected") == (4, 2)
    for bucket in IngestBucket.objects.all():  # one row per minute, never per report
        assert bucket.start.second == 0 and bucket.start.microsecond == 0
    assert IngestBucket.objects.count() <= 2  # 2 if the test crossed a minute


@pytest.mark.django_db
def test_a_new_ingest_minute_prunes_the_minutes_past_retention(settings):
    settings.HUB_HISTORY_MINUTE_DAYS = 2
    now = datetime.now(UTC).replace(second=30, microsecond=0)
    minute = now.replace(second=0)
    cut = minute - timedelta(days=2)
    for start in (cut - timedelta(minutes=1), cut):
        IngestBucket.objects.create(start=start, accepted=1)
    ingest_count(accepted=False, now=now)
    assert list(IngestBucket.objects.values_list("start", "accepted", "rejected")) == [
        (cut, 1, 0),
        (minute, 0, 1),
    ]


def test_sync_runs_fill_the_sync_buckets_and_the_rest_history(esp32, staff_client):
    for n in range(3):
        esp32.write(content=f"row {n}")
    assert run_sync(trigger="test").status == "success"
    esp32.execute("RENAME TABLE ai_agent_chat_history TO ai_agent_chat_history_away")
    try:
        assert run_sync(trigger="test").status == "failed"
    finally:
        esp32.execute("RENAME TABLE ai_agent_chat_history_away TO ai_agent_chat_history")

    for resolution in ("minute", "hour"):
        rows = SyncBucket.objects.filter(resolution=resolution)
        assert sum(r.runs_ok for r in rows) == 1 and sum(r.runs_failed for r in rows) == 1
        assert sum(r.rows_written for r in rows) == 3 and sum(r.rows_read for r in rows) == 3
        assert all(r.lag_max_seconds is not None and r.lag_max_seconds > 0 for r in rows)

    body = staff_client.get("/api/v2/sync/history").json()
    assert (body["range"], body["resolution"], body["bucket_seconds"]) == ("24h", "minute", 60)
    summary = body["summary"]
    assert (summary["runs_ok"], summary["runs_failed"], summary["success_percent"]) == (1, 1, 50.0)
    assert summary["rows_written"] == 3
    assert body["lag_seconds"] >= summary["lag_max_seconds"] > 0
    assert {b["state"] for b in body["buckets"]} <= {"partial", "up", "down"}
    assert body["ingest"]["summary"] == {
        "state": "none",
        "accepted": 0,
        "rejected": 0,
        "rejected_percent": None,
    }
    hours = staff_client.get("/api/v2/sync/history?range=30d").json()
    assert hours["resolution"] == "hour" and hours["summary"]["runs_ok"] == 1
    response = staff_client.get("/api/v2/sync/history?range=week")
    assert response.status_code == 400
    assert response.json() == {"range": ["unknown range 'week'; allowed: 24h, 7d, 30d"]}
