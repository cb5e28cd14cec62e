"""Numbers read from the database at scrape time: deployment-wide, no `worker` label.

The models are looked up by label through the app registry, so this core
module imports no app; an app that is not installed adds nothing.
"""

from __future__ import annotations

from collections.abc import Iterator

from django.apps import apps
from django.db.models import Count
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

FIRING = "firing"  # xiaozhi_hub/alerts: Alert.state of an open incident


def _model(app_label: str, name: str):
    try:
        return apps.get_model(app_label, name)
    except LookupError:
        return None


def sync_families() -> Iterator[Metric]:
    state_model = _model("chathistory", "SyncState")
    if state_model is None:
        return
    lag = GaugeMetricFamily(
        "xiaozhi_hub_sync_lag_seconds",
        "Seconds since the chat sync of the source last succeeded.",
        labels=["source"],
    )
    last = GaugeMetricFamily(
        "xiaozhi_hub_sync_last_success_timestamp_seconds",
        "When the chat sync of the source last succeeded (Unix time).",
        labels=["source"],
    )
    now = timezone.now()
    rows = state_model.objects.filter(last_success_at__isnull=False).values_list(
        "source", "last_success_at"
    )
    for source, at in rows:
        lag.add_metric([source], max(0.0, (now - at).total_seconds()))
        last.add_metric([source], at.timestamp())
    yield lag
    yield last


def alert_families() -> Iterator[Metric]:
    """Firing alerts per rule kind; a kind that has a rule and nothing firing shows 0."""
    alert_model, rule_model = _model("alerts", "Alert"), _model("alerts", "AlertRule")
    if alert_model is None or rule_model is None:
        return
    firing = GaugeMetricFamily(
        "xiaozhi_hub_alerts_firing",
        "Alerts firing now (silenced and acknowledged ones included), per rule kind.",
        labels=["kind"],
    )
    counts = dict.fromkeys(rule_model.objects.values_list("kind", flat=True).distinct(), 0)
    grouped = (
        alert_model.objects.filter(state=FIRING)
        .values_list("rule__kind")
        .annotate(n=Count("id"))
        .order_by()
    )
    counts.update(dict(grouped))
    for kind, count in sorted(counts.items()):
        firing.add_metric([kind], count)
    yield firing
