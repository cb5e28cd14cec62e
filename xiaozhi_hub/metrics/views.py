"""GET /metrics: every process's numbers in one Prometheus text exposition."""

from __future__ import annotations

import logging
from collections.abc import Callable

import redis
from django.conf import settings
from django.http import HttpResponse
from django.views import View
from prometheus_client import generate_latest
from prometheus_client.core import GaugeMetricFamily

from xiaozhi_hub.masking import mask_text

from . import database
from .access import refusal
from .merge import MergedMetrics, read_snapshots
from .process import current_registry, enabled, process_name

logger = logging.getLogger(__name__)

# The classic text format, which every Prometheus reads (the names here are plain ASCII).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_clients: dict[str, redis.Redis] = {}


def _redis() -> redis.Redis:
    url = settings.REDIS_URL
    client = _clients.get(url)
    if client is None:
        client = _clients[url] = redis.Redis.from_url(
            url, socket_timeout=3, socket_connect_timeout=3
        )
    return client


def _plain(status: int, text: str, **headers: str) -> HttpResponse:
    response = HttpResponse(text + "\n", status=status, content_type="text/plain; charset=utf-8")
    for name, value in headers.items():
        response[name] = value
    return response


class MetricsView(View):
    http_method_names = ["get"]
    # Read at scrape time; given by the composition root (xiaozhi_hub/urls.py), as the
    # console's connection registry is not the core's to import.
    console_connections: Callable[[], int] | None = None

    def get(self, request):
        if not enabled():
            return _plain(404, "metrics are off (HUB_METRICS_ENABLED=false)")
        refused = refusal(request)
        if refused is not None:
            headers = (
                {"WWW-Authenticate": 'Bearer realm="metrics"'} if refused.status == 401 else {}
            )
            return _plain(refused.status, refused.reason, **headers)
        merged = MergedMetrics()
        own = current_registry()
        if own is not None:  # this process's numbers, fresh (runhub: the pool's)
            merged.add(own.collect(), worker=process_name())
        if settings.REDIS_URL:
            self._add_published(merged)
        self._add_scrape_time(merged)
        return HttpResponse(generate_latest(merged), content_type=CONTENT_TYPE)

    def _add_published(self, merged: MergedMetrics) -> None:
        up = GaugeMetricFamily(
            "xiaozhi_hub_metrics_published_up",
            "1 when the other processes' published numbers could be read from Redis.",
        )
        try:
            snapshots = read_snapshots(_redis(), exclude=process_name())
        except Exception as exc:
            logger.warning("could not read published metrics: %s", mask_text(str(exc)))
            up.add_metric([], 0)
        else:
            up.add_metric([], 1)
            for snapshot in snapshots:
                merged.add_snapshot(snapshot)
            merged.add_ages(snapshots)
        merged.add([up], worker=None)

    def _add_scrape_time(self, merged: MergedMetrics) -> None:
        for read in (database.sync_families, database.alert_families):
            try:
                merged.add(list(read()), worker=None)
            except Exception as exc:  # the database away: the other numbers still count
                logger.warning("metrics from the database skipped: %s", mask_text(str(exc)))
        if self.console_connections is not None:
            family = GaugeMetricFamily(
                "xiaozhi_hub_console_connections",
                "Console connections (WebSocket and SSE) open across the web processes.",
            )
            try:
                family.add_metric([], self.console_connections())
            except Exception as exc:
                logger.warning("console connections not counted: %s", mask_text(str(exc)))
            else:
                merged.add([family], worker=None)
