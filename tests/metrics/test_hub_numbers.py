"""The numbers this process records or reads at scrape time: sync runs, sync lag and last
success, alerts firing, console connections; each family once, valid text."""

from __future__ import annotations

import os
import socket
import time
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.apps import apps
from django.test import Client
from django.utils import timezone

from chathistory.models import DEFAULT_SOURCE, SyncState
from chathistory.sync import runs
from tests.metrics.scrape import TOKEN, parse, scrape_client, values
from xiaozhi_hub.console.limits import connections

OWN = f"{socket.gethostname()}:{os.getpid()}"  # this process's `worker` label


@pytest.fixture
def scrape(settings):
    settings.HUB_METRICS_TOKEN = TOKEN
    settings.HUB_METRICS_ALLOWED_IPS = []
    client = Client()

    def scraped():
        status, text = scrape_client(client)
        assert status == 200, text
        return parse(text)

    return scraped


def counted(families, outcome: str) -> float:
    found = values(families, "xiaozhi_hub_sync_runs_total", outcome=outcome, worker=OWN)
    return found[0] if found else 0.0


@pytest.mark.django_db
def test_sync_runs_are_counted_and_lag_and_last_success_read_from_the_database(scrape):
    succeeded = timezone.now() - timedelta(seconds=120)
    SyncState.objects.create(
        source=DEFAULT_SOURCE,
        last_success_at=succeeded,
        claimed_by="another-worker",
        claimed_at=timezone.now(),
    )
    before = counted(scrape(), "skipped")
    result = runs.skipped(DEFAULT_SOURCE, trigger="beat", started=time.monotonic())
    assert result.status == "skipped"
    families = scrape()
    assert counted(families, "skipped") == before + 1
    (lag,) = values(families, "xiaozhi_hub_sync_lag_seconds", source=DEFAULT_SOURCE)
    assert 119 <= lag < 180
    (last,) = values(
        families, "xiaozhi_hub_sync_last_success_timestamp_seconds", source=DEFAULT_SOURCE
    )
    assert last == pytest.approx(succeeded.timestamp(), abs=0.01)
    # Deployment-wide numbers carry no `worker` label.
    assert all("worker" not in s.labels for s in families["xiaozhi_hub_sync_lag_seconds"].samples)


@pytest.mark.django_db
def test_sync_without_a_success_has_no_lag_series(scrape):
    SyncState.objects.create(source=DEFAULT_SOURCE)
    assert values(scrape(), "xiaozhi_hub_sync_lag_seconds") == []


@pytest.mark.django_db
def test_alerts_firing_per_kind_when_the_alerts_app_is_installed(scrape):
    if not apps.is_installed("xiaozhi_hub.alerts"):
        assert "xiaozhi_hub_alerts_firing" not in scrape()  # skipped gracefully
        return
    rule_model, alert_model = (
        apps.get_model("alerts", "AlertRule"),
        apps.get_model("alerts", "Alert"),
    )
    rule_model.objects.all().delete()
    failed = rule_model.objects.create(name="metrics failed", kind="endpoint_failed")
    rule_model.objects.create(name="metrics lag", kind="sync_lag")
    now = timezone.now()
    for subject, state in (
        ("endpoint:1", "firing"),
        ("endpoint:2", "firing"),
        ("endpoint:3", "resolved"),
    ):
        alert_model.objects.create(rule=failed, subject=subject, state=state, started_at=now)
    families = scrape()
    assert values(families, "xiaozhi_hub_alerts_firing", kind="endpoint_failed") == [2.0]
    assert values(families, "xiaozhi_hub_alerts_firing", kind="sync_lag") == [0.0]


@pytest.mark.django_db
def test_console_connections_are_counted_across_processes(scrape):
    member = f"metrics-test-{time.monotonic_ns()}"
    (before,) = values(scrape(), "xiaozhi_hub_console_connections")
    assert async_to_sync(connections.claim)(member)
    try:
        assert values(scrape(), "xiaozhi_hub_console_connections") == [before + 1]
    finally:
        async_to_sync(connections.release)(member)
    assert values(scrape(), "xiaozhi_hub_console_connections") == [before]


@pytest.mark.django_db
def test_metrics_off_the_worker_gets_the_instrumentation_that_does_nothing(settings, scrape):
    """HUB_METRICS_ENABLED=false (the cost benchmark's baseline): nothing is counted."""
    from endpoints.worker.metrics import NO_METRICS, WorkerMetrics, worker_metrics

    class Service:
        pool = None

    assert isinstance(worker_metrics(Service()), WorkerMetrics)
    SyncState.objects.create(
        source=DEFAULT_SOURCE, claimed_by="another-worker", claimed_at=timezone.now()
    )
    before = counted(scrape(), "skipped")
    settings.HUB_METRICS_ENABLED = False
    assert worker_metrics(Service()) is NO_METRICS
    runs.skipped(DEFAULT_SOURCE, trigger="beat", started=time.monotonic())
    settings.HUB_METRICS_ENABLED = True
    assert counted(scrape(), "skipped") == before
