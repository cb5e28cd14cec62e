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
from django.utils.translation import gettext_lazy as _

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

    resolution = models.CharField(
        _("resolution"), max_length=8, choices=[(r, r) for r in RESOLUTIONS]
    )
    start = models.DateTimeField(_("start"), help_text=_("The bucket's first moment (UTC)."))
    worker = models.CharField(
        _("worker"), max_length=200, help_text=_("The pool worker that measured it.")
    )
    up_seconds = models.FloatField(
        _("up seconds"), default=0, help_text=_("Seconds connected (servers: ready).")
    )
    down_seconds = models.FloatField(
        _("down seconds"),
        default=0,
        help_text=_("Seconds enabled but not connected (servers: not ready)."),
    )

    class Meta:
        abstract = True
        ordering = ["start"]


class EndpointHealthBucket(HealthBucket):
    endpoint = models.ForeignKey(
        Endpoint,
        on_delete=models.CASCADE,
        verbose_name=_("endpoint"),
        db_constraint=False,
        related_name="health_buckets",
    )
    pings_ok = models.PositiveIntegerField(_("pings ok"), default=0)
    pings_failed = models.PositiveIntegerField(_("pings failed"), default=0)
    rtt_sum_ms = models.FloatField(_("rtt sum ms"), default=0)
    rtt_count = models.PositiveIntegerField(_("rtt count"), default=0)
    rtt_max_ms = models.FloatField(_("rtt max ms"), null=True, blank=True)
    rtt_histogram = models.JSONField(
        _("rtt histogram"), default=list, blank=True, help_text=_("Counts per RTT bin.")
    )
    disconnections = models.PositiveIntegerField(_("disconnections"), default=0)

    class Meta(HealthBucket.Meta):
        verbose_name = _("endpoint health bucket")
        verbose_name_plural = _("endpoint health buckets")
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
        McpServer,
        on_delete=models.CASCADE,
        verbose_name=_("server"),
        db_constraint=False,
        related_name="health_buckets",
    )
    outages = models.PositiveIntegerField(
        _("outages"), default=0, help_text=_("Times it stopped being ready.")
    )

    class Meta(HealthBucket.Meta):
        verbose_name = _("MCP server health bucket")
        verbose_name_plural = _("MCP server health buckets")
        constraints = [
            models.UniqueConstraint(
                fields=["server", "resolution", "start", "worker"], name="server_bucket_unique"
            )
        ]
        indexes = [models.Index(fields=["resolution", "start"], name="server_bucket_age")]

    def __str__(self) -> str:
        return f"server {self.server_id} {self.resolution} {self.start:%Y-%m-%d %H:%M}"
