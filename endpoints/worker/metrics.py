"""The pool worker's Prometheus numbers: its endpoints and the tool calls it serves.

Fed by the status writer (status.py: every status the pool reports) and the
upstream reports (upstream_reports.py: each tool call, each server status).
The gauges (state, score, connected, token expiry) are read when the registry
is collected, from the latest status of each endpoint the worker runs at that
moment: an endpoint that moves to another worker or is deleted leaves this
worker's numbers, its RTT and reconnect series too. Labels stay bounded: an
endpoint's name and id, the names of configured servers and tools (a name no
server has is counted as `unknown`).

HUB_METRICS_ENABLED=false: `worker_metrics` hands out NO_METRICS, which does
nothing (the baseline of the cost benchmark).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from endpoints.pool.status import STATES, EndpointStatus
from endpoints.upstreams.custom.config import CustomCallRecord
from endpoints.upstreams.records import CallRecord, ServerStatus
from xiaozhi_hub.metrics.process import PerProcess

from .extra_tools import extra_namespaces

ENDPOINT_LABELS = ("endpoint", "endpoint_id")
# Seconds. A health ping on a good link takes milliseconds; a peer across the
# world a few hundred; past HUB's ping timeout it is a failure, not a sample.
RTT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CALL_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
BUILTIN_SERVER = "hub"  # hub__status / hub__echo (HUB_BUILTIN_TOOLS)
CUSTOM_SERVER = "custom"  # the custom tools (endpoints/upstreams/custom/)
UNKNOWN = "unknown"  # a tool name no server has: one series, whatever the peer sent


def _namespace(tool: str) -> str:
    return tool.partition("__")[0]


class _EndpointTracking:
    """What was last counted of one endpoint, to count each new sample once, and its
    series (looked up once: `labels()` takes a lock and checks the values each call)."""

    __slots__ = ("labels", "requests", "last_reconnect", "rtt", "reconnects")

    def __init__(self, labels: tuple[str, str], metrics: WorkerMetrics) -> None:
        self.labels = labels
        self.requests = 0
        self.last_reconnect: datetime | None = None
        self.rtt = metrics.rtt.labels(*labels)
        self.reconnects = metrics.reconnects.labels(*labels)


class WorkerMetrics:
    """One per process (PerProcess); every pool service of the process attaches to it."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.rtt = Histogram(
            "xiaozhi_hub_endpoint_rtt_seconds",
            "Round-trip time of the hub's requests to the endpoint (health pings included).",
            ENDPOINT_LABELS,
            buckets=RTT_BUCKETS,
            registry=registry,
        )
        self.reconnects = Counter(
            "xiaozhi_hub_endpoint_reconnects_total",
            "Connections to the endpoint lost or attempts that failed (each starts a reconnect, "
            "or ends in `failed`).",
            ENDPOINT_LABELS,
            registry=registry,
        )
        self.tool_calls = Counter(
            "xiaozhi_hub_tool_calls_total",
            "tools/call requests served, by server, tool and outcome.",
            ("server", "tool", "outcome"),
            registry=registry,
        )
        self.tool_latency = Histogram(
            "xiaozhi_hub_tool_call_duration_seconds",
            "How long tools/call requests took, by server and tool.",
            ("server", "tool"),
            buckets=CALL_BUCKETS,
            registry=registry,
        )
        self._latest: dict[int, EndpointStatus] = {}
        self._tracking: dict[int, _EndpointTracking] = {}
        self._server_names: dict[int, str] = {}
        self._services: weakref.WeakSet = weakref.WeakSet()
        registry.register(_EndpointGauges(self))

    def attach(self, service) -> WorkerMetrics:
        """Count `service.pool`'s endpoints as held by this process."""
        self._services.add(service)
        return self

    # --- fed by the writers (the runtime's event loop) ----------------------------------
    def on_status(self, status: EndpointStatus) -> None:
        endpoint_id = status.endpoint_id
        labels = (status.name, str(endpoint_id))
        tracking = self._tracking.get(endpoint_id)
        if tracking is None or tracking.labels != labels:
            renamed, tracking = tracking, _EndpointTracking(labels, self)
            if renamed is not None:  # the old name's series go; what was counted stays counted
                self._forget_series(renamed.labels)
                tracking.requests, tracking.last_reconnect = (
                    renamed.requests,
                    renamed.last_reconnect,
                )
            self._tracking[endpoint_id] = tracking
        self._latest[endpoint_id] = status
        # Every answered request reports a status: a new count is a new RTT sample.
        if status.successful_requests != tracking.requests:
            tracking.requests = status.successful_requests
            if status.rtt_ms is not None:
                tracking.rtt.observe(status.rtt_ms / 1000.0)
        history = status.reconnect_history
        if history and history[-1]["at"] != tracking.last_reconnect:
            seen = tracking.last_reconnect
            new = sum(1 for entry in history if seen is None or entry["at"] > seen)
            tracking.last_reconnect = history[-1]["at"]
            if new:
                tracking.reconnects.inc(new)

    def on_server_status(self, status: ServerStatus) -> None:
        self._server_names[status.server_id] = status.name

    def on_call(self, record: CallRecord) -> None:
        if record.server_id is not None:
            server = self._server_names.get(record.server_id, f"server-{record.server_id}")
            tool = record.tool
        elif isinstance(record, CustomCallRecord):  # a tool the hub defines itself
            server, tool = CUSTOM_SERVER, record.tool
        elif record.outcome != "not_found" and _namespace(record.tool) in extra_namespaces():
            server, tool = _namespace(record.tool), record.tool  # an extra tool (extra_tools.py)
        elif record.outcome != "not_found":  # routed nowhere yet answered: a built-in tool
            server, tool = BUILTIN_SERVER, record.tool
        else:
            server, tool = "", UNKNOWN
        self.tool_calls.labels(server, tool, record.outcome).inc()
        self.tool_latency.labels(server, tool).observe(record.duration_ms / 1000.0)

    # --- read when the registry is collected (the publisher's thread) -------------------
    def held_statuses(self) -> list[EndpointStatus]:
        """The latest status of each endpoint the process runs now; the others' series go."""
        held: set[int] = set()
        for service in list(self._services):
            if service.pool is not None:
                held |= service.pool.endpoint_ids()
        for endpoint_id in [i for i in list(self._tracking) if i not in held]:
            tracking = self._tracking.pop(endpoint_id, None)
            self._latest.pop(endpoint_id, None)
            if tracking is not None:
                self._forget_series(tracking.labels)
        return [status for i, status in list(self._latest.items()) if i in held]

    def _forget_series(self, labels: tuple[str, str]) -> None:
        for metric in (self.rtt, self.reconnects):
            try:
                metric.remove(*labels)
            except KeyError:
                pass


class _EndpointGauges(Collector):
    NAMES = (
        "xiaozhi_hub_endpoint_state",
        "xiaozhi_hub_endpoint_health_score",
        "xiaozhi_hub_endpoint_connected",
        "xiaozhi_hub_endpoint_token_expiry_timestamp_seconds",
    )

    def __init__(self, metrics: WorkerMetrics) -> None:
        self.metrics = metrics

    def describe(self) -> Iterator[Metric]:
        return iter(GaugeMetricFamily(name, "") for name in self.NAMES)

    def collect(self) -> Iterator[Metric]:
        labels = list(ENDPOINT_LABELS)
        state = GaugeMetricFamily(
            self.NAMES[0],
            "1 for the endpoint's current state, 0 for the others "
            "(connecting, connected, degraded, backoff, failed, disabled).",
            labels=[*labels, "state"],
        )
        score = GaugeMetricFamily(
            self.NAMES[1],
            "The endpoint's health score, 0 to 100 (0 while not connected).",
            labels=labels,
        )
        connected = GaugeMetricFamily(
            self.NAMES[2], "1 while the endpoint's WebSocket is connected.", labels=labels
        )
        expiry = GaugeMetricFamily(
            self.NAMES[3],
            "When the endpoint URL's token expires (Unix time), for tokens that say.",
            labels=labels,
        )
        for status in self.metrics.held_statuses():
            values = [status.name, str(status.endpoint_id)]
            for name in STATES:
                state.add_metric([*values, name], 1.0 if status.state == name else 0.0)
            score.add_metric(values, status.health_score)
            connected.add_metric(values, 1.0 if status.connected else 0.0)
            if status.token_expires_at is not None:
                expiry.add_metric(values, status.token_expires_at.timestamp())
        return iter((state, score, connected, expiry))


class _NoMetrics:
    """HUB_METRICS_ENABLED=false: the writers' calls cost a method call and nothing more."""

    def on_status(self, status: EndpointStatus) -> None:
        pass

    def on_server_status(self, status: ServerStatus) -> None:
        pass

    def on_call(self, record: CallRecord) -> None:
        pass


NO_METRICS = _NoMetrics()
_per_process: PerProcess[WorkerMetrics] = PerProcess(WorkerMetrics)


def worker_metrics(service) -> WorkerMetrics | _NoMetrics:
    """The process's worker metrics with `service` attached, or NO_METRICS when off."""
    metrics = _per_process.get()
    return metrics.attach(service) if metrics is not None else NO_METRICS
