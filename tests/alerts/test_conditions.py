"""Each rule kind's condition on real rows: what it finds, since when, and its words
(never a secret)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from chathistory.models import IngestBucket, SyncRun, SyncState
from endpoints.models import Endpoint, EndpointLiveStatus, McpServer, PoolWorker
from tests.endpoints.conftest import secret_url
from xiaozhi_hub.alerts import data, kinds
from xiaozhi_hub.alerts.conditions import findings

pytestmark = pytest.mark.django_db

DAY = timedelta(days=1)


def defaults(kind: str) -> dict:
    return kinds.clean_params(kind, {})


def test_token_expiry_finds_tokens_within_the_window_and_says_when():
    now = timezone.now()
    soon = Endpoint.objects.create(name="soon", url=secret_url(expires_in=3 * 86400 + 60))
    Endpoint.objects.create(name="later", url=secret_url(expires_in=30 * 86400))
    expired = Endpoint.objects.create(name="old", url=secret_url(expires_in=-60))
    Endpoint.objects.create(name="off", url=secret_url(expires_in=60), enabled=False)
    found = findings(kinds.TOKEN_EXPIRY, {"days": 7}, now)
    assert set(found) == {f"endpoint:{soon.pk}", f"endpoint:{expired.pk}"}
    warning = found[f"endpoint:{soon.pk}"]
    assert warning.en.startswith("The token of endpoint “soon” expires at ")
    assert warning.en.endswith("(in 3 days): replace its URL.")
    assert "剩余3 天" in warning.zh
    assert warning.since == soon.token_expires_at - 7 * DAY
    assert "expired at" in found[f"endpoint:{expired.pk}"].en
    assert all("SeCrEtToKeN" not in f.en + f.zh for f in found.values())


def test_an_upstream_server_is_down_only_while_a_pool_worker_reports_states():
    now = timezone.now()
    McpServer.objects.create(name="ok", transport="stdio", command="x", state="ready")
    down = McpServer.objects.create(
        name="amap",
        transport="sse",
        url="https://mcp.example/sse?key=ServerSecret",
        state="failed",
        last_error="401 from https://mcp.example/sse?key=ServerSecret",
    )
    McpServer.objects.create(name="off", command="x", state="failed", enabled=False)
    assert findings(kinds.SERVER_DOWN, {}, now) == {}  # no worker: the states are stale
    PoolWorker.objects.create(name="w", hostname="h", pid=1)
    found = findings(kinds.SERVER_DOWN, {}, now)
    assert list(found) == [f"mcp_server:{down.pk}"]
    assert found[f"mcp_server:{down.pk}"].en.startswith(
        "Upstream MCP server “amap” is down (state failed). Last error: 401 from"
    )
    assert "ServerSecret" not in found[f"mcp_server:{down.pk}"].en


def test_sync_failing_counts_finished_runs_failed_in_a_row(monkeypatch):
    now = timezone.now()
    assert findings(kinds.SYNC_FAILING, {"runs": 2}, now) == {}  # no source configured
    monkeypatch.setattr(data, "environment_configured", lambda: True)
    SyncRun.objects.create(status="success")
    for status in ("failed", "skipped", "abandoned", "in_progress"):
        SyncRun.objects.create(status=status, error="Lost connection to MySQL")
    first = SyncRun.objects.filter(status="failed").get()
    found = findings(kinds.SYNC_FAILING, {"runs": 2}, now)["sync"]
    assert (
        found.en
        == "The chat-history sync failed 2 runs in a row. Last error: Lost connection to MySQL"
    )
    assert found.since == first.started_at
    assert findings(kinds.SYNC_FAILING, {"runs": 3}, now) == {}


def test_sync_lag_measures_from_the_last_success(monkeypatch):
    monkeypatch.setattr(data, "environment_configured", lambda: True)
    now = timezone.now()
    assert findings(kinds.SYNC_LAG, {"minutes": 30}, now) == {}  # never ran: nothing to say
    SyncRun.objects.create(status="failed")
    assert (
        "has not succeeded since it first ran"
        in findings(kinds.SYNC_LAG, {"minutes": 30}, now + timedelta(minutes=31))["sync"].en
    )
    SyncState.objects.create(source="esp32", last_success_at=now - timedelta(minutes=45))
    found = findings(kinds.SYNC_LAG, {"minutes": 30}, now)["sync"]
    assert found.en.startswith("No successful chat-history sync for 45 min")
    assert found.since == now - timedelta(minutes=15)
    assert findings(kinds.SYNC_LAG, {"minutes": 60}, now) == {}


def test_each_source_has_its_own_sync_alerts_and_a_refused_token_is_named():
    from chathistory.models import Source

    now = timezone.now()
    Source.objects.create(
        key="site-b", name="Site B", kind="manager-api", url="https://b/xiaozhi", token="tok"
    )
    Source.objects.create(key="lab", url="mysql://u:pw@lab/xz", enabled=False)  # off: silent
    refused = "TokenRejected: the manager-api rejected the token: 登录已过期"
    for _ in range(3):
        SyncRun.objects.create(source="site-b", status="failed", error=refused)
        SyncRun.objects.create(source="lab", status="failed", error="down")
    found = findings(kinds.SYNC_FAILING, {"runs": 3}, now)
    assert list(found) == ["sync:site-b"]  # the environment's source is not configured here
    assert found["sync:site-b"].en == (
        f"The chat-history sync of Site B failed 3 runs in a row. Last error: {refused}"
    )
    assert found["sync:site-b"].zh.startswith("聊天记录同步（Site B）已连续失败 3 次。")
    lag = findings(kinds.SYNC_LAG, {"minutes": 30}, now + timedelta(minutes=31))
    assert list(lag) == ["sync:site-b"]


def test_ingest_rejects_over_the_window_with_enough_requests():
    now = timezone.now().replace(second=30)
    minute = now.replace(second=0, microsecond=0)
    IngestBucket.objects.create(start=minute, accepted=6, rejected=4)
    IngestBucket.objects.create(start=minute - timedelta(minutes=20), accepted=0, rejected=50)
    params = defaults(kinds.INGEST_REJECTS)  # > 20 % of at least 10 over 15 min
    found = findings(kinds.INGEST_REJECTS, params, now)["ingest"]
    assert (
        found.en == "The report endpoint rejected 4 of 10 chat reports (40 %) in the last 15 min."
    )
    assert findings(kinds.INGEST_REJECTS, {**params, "percent": 40}, now) == {}
    assert findings(kinds.INGEST_REJECTS, {**params, "min_requests": 11}, now) == {}
    assert (
        "rejected 54 of 60"
        in findings(kinds.INGEST_REJECTS, {**params, "window_minutes": 21}, now)["ingest"].en
    )


def test_an_endpoint_whose_worker_vanished_counts_as_down_since_its_lease_ran_out():
    now = timezone.now()
    endpoint = Endpoint.objects.create(name="orphan", url=secret_url())
    lapsed = now - timedelta(minutes=7)
    Endpoint.objects.filter(pk=endpoint.pk).update(owner="dead", lease_expires_at=lapsed)
    EndpointLiveStatus.objects.create(endpoint=endpoint, state="connected", connected=True)
    found = findings(kinds.ENDPOINT_DOWN, {}, now)[f"endpoint:{endpoint.pk}"]
    assert (found.since, found.en) == (
        lapsed,
        "Endpoint “orphan” is not connected (state connecting).",
    )
