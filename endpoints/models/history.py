"""Health history: per-minute and per-hour rollups of each endpoint and MCP server.

The pool worker aggregates in memory (endpoints/worker/history.py) and writes
a bucket once, when its minute ends, in one bulk upsert for all endpoints;
the hour bucket holding it is rewritten with it, with the hour's totals so
far. Each worker writes its own row (`worker`): when an endpoint moves from
one worker to another within a bucket, both rows count and the readers add
them up (endpoints/selectors/history.py).

The endpoint and server keys are not database foreign keys: the worker's
batch must not fail for an endpoint deleted meanwhile. Django still deletes
an endpoint's history with it; a row written just after is pruned with age.
"""

from __future__ import annotations

from django.db import models

from xiaozhi_hub.history import RESOLUTIONS

from .endpoint import Endpoint
from .mcp_server import McpServer

# Upper edges (ms) of the RTT histogram bins; the last bin is open (over 5000 ms).
# A bucket's p95 is the upper edge of the bin that holds its 95th percentile,
# capped at the bucket's largest RTT: exact to within a bin.
RTT_BIN_EDGES_MS = (
    5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000,
)  # fmt: skip
RTT_BINS = len(RTT_BIN_EDGES_MS) + 1


class HealthBucket(models.Model):
    """What both histories hold: a bucket of one worker's time, up or down."""

    resolution = models.CharField(max_length=8, choices=[(r, r) for r in RESOLUTIONS])
    start = models.DateTimeField(help_text="The bucket's first moment (UTC).")
    worker = models.CharField(max_length=200, help_text="The pool worker that measured it.")
    up_seconds = models.FloatField(default=0, help_text="Seconds connected (servers: ready).")
    down_seconds = models.FloatField(
        default=0, help_text="Seconds enabled but not connected (servers: not ready)."
    )

    class Meta:
        abstract = True
        ordering = ["start"]


class EndpointHealthBucket(HealthBucket):
    endpoint = models.ForeignKey(
        Endpoint, on_delete=models.CASCADE, db_constraint=False, related_name="health_buckets"
    )
    pings_ok = models.PositiveIntegerField(default=0)
    pings_failed = models.PositiveIntegerField(default=0)
    rtt_sum_ms = models.FloatField(default=0)
    rtt_count = models.PositiveIntegerField(default=0)
    rtt_max_ms = models.FloatField(null=True, blank=True)
    rtt_histogram = models.JSONField(default=list, blank=True, help_text="Counts per RTT bin.")
    disconnections = models.PositiveIntegerField(default=0)

    class Meta(HealthBucket.Meta):
        verbose_name = "endpoint health bucket"
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "resolution", "start", "worker"],
                name="endpoint_bucket_unique",
            )
        ]
        indexes = [models.Index(fields=["resolution", "start"], name="endpoint_bucket_age")]

    def __str__(self) -> str:
        return f"endpoint {self.endpoint_id} {self.resolution} {self.start:%Y-%m-%d %H:%M}"


class McpServerHealthBucket(HealthBucket):
    server = models.ForeignKey(
        McpServer, on_delete=models.CASCADE, db_constraint=False, related_name="health_buckets"
    )
    outages = models.PositiveIntegerField(default=0, help_text="Times it stopped being ready.")

    class Meta(HealthBucket.Meta):
        verbose_name = "MCP server health bucket"
        constraints = [
            models.UniqueConstraint(
                fields=["server", "resolution", "start", "worker"], name="server_bucket_unique"
            )
        ]
        indexes = [models.Index(fields=["resolution", "start"], name="server_bucket_age")]

    def __str__(self) -> str:
        return f"server {self.server_id} {self.resolution} {self.start:%Y-%m-%d %H:%M}"
