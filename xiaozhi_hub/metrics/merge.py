"""Many processes' numbers as one exposition: one family per metric, a `worker` label each.

Families of the same name from several processes become one family (the text
format allows one HELP and TYPE line per name); each sample gets the label
`worker` with the name of the process that recorded it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import redis
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

from .publisher import decode, index_key, snapshot_key

logger = logging.getLogger(__name__)

WORKER_LABEL = "worker"


@dataclass(frozen=True)
class Snapshot:
    worker: str
    published_at: float  # Unix time
    families: list[Metric]


def read_snapshots(client: redis.Redis, *, exclude: str = "") -> list[Snapshot]:
    """Every live process's published snapshot, but `exclude`'s (read fresh instead).

    Names whose key has expired are dropped from the index on the way.
    """
    index = index_key()
    entries = [
        (name.decode(), score)
        for name, score in client.zrange(index, 0, -1, withscores=True)
        if name.decode() != exclude
    ]
    if not entries:
        return []
    payloads = client.mget([snapshot_key(name) for name, _ in entries])
    snapshots, expired = [], []
    for (name, published_at), payload in zip(entries, payloads, strict=True):
        if payload is None:
            expired.append(name)
            continue
        try:
            snapshots.append(Snapshot(name, published_at, decode(payload)))
        except Exception:  # a damaged value (or another version's) must not cost the others
            logger.warning("unreadable metrics snapshot of %s skipped", name)
    if expired:
        client.zrem(index, *expired)
    return snapshots


def _exposed_name(family: Metric) -> str:
    """The name on the family's HELP and TYPE lines (a counter `x` is written `x_total`)."""
    suffix = {"counter": "_total", "info": "_info"}.get(family.type, "")
    return family.name + suffix


class MergedMetrics:
    """A prometheus_client collector of families merged from many processes."""

    def __init__(self) -> None:
        self._families: dict[str, Metric] = {}

    def add(self, families: Iterable[Metric], *, worker: str | None) -> None:
        """Add families; `worker` None: deployment-wide numbers, no `worker` label."""
        for family in families:
            key = _exposed_name(family)
            merged = self._families.get(key)
            if merged is None:
                merged = Metric(family.name, family.documentation, family.type, family.unit)
                self._families[key] = merged
            elif merged.type != family.type:  # another code version mid-upgrade
                logger.warning(
                    "metric %s is a %s in %s but a %s elsewhere: skipped there",
                    family.name,
                    family.type,
                    worker,
                    merged.type,
                )
                continue
            for sample in family.samples:
                labels = (
                    sample.labels if worker is None else {**sample.labels, WORKER_LABEL: worker}
                )
                merged.samples.append(
                    Sample(sample.name, labels, sample.value, sample.timestamp, sample.exemplar)
                )

    def add_snapshot(self, snapshot: Snapshot) -> None:
        self.add(snapshot.families, worker=snapshot.worker)

    def add_ages(self, snapshots: Iterable[Snapshot], *, now: float | None = None) -> None:
        """How old each process's snapshot is: a stuck publisher shows here."""
        now = time.time() if now is None else now
        family = Metric(
            "xiaozhi_hub_metrics_snapshot_age_seconds",
            "Seconds since the process published the numbers in this scrape.",
            "gauge",
        )
        for snapshot in snapshots:
            family.add_sample(
                family.name, {WORKER_LABEL: snapshot.worker}, max(0.0, now - snapshot.published_at)
            )
        self.add([family], worker=None)

    def collect(self) -> Iterator[Metric]:
        return iter(list(self._families.values()))
