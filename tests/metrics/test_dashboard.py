"""docs/grafana-dashboard.json imports into any Grafana (a data-source input, no fixed
uid) and asks only for metrics the hub documents in docs/metrics.md and emits."""

from __future__ import annotations

import json
import re

from tests.services import REPO

DASHBOARD = REPO / "docs" / "grafana-dashboard.json"
DOC = REPO / "docs" / "metrics.md"
SOURCES = [
    REPO / "xiaozhi_hub" / "metrics" / "database.py",
    REPO / "xiaozhi_hub" / "metrics" / "merge.py",
    REPO / "xiaozhi_hub" / "metrics" / "views.py",
    REPO / "endpoints" / "worker" / "metrics.py",
    REPO / "chathistory" / "metrics.py",
]
NAME = re.compile(r"xiaozhi_hub_[a-z_]+")
HISTOGRAM_PARTS = ("_bucket", "_count", "_sum")


def documented() -> set[str]:
    """The metric names in the first column of docs/metrics.md's tables."""
    return set(re.findall(r"^\| `(xiaozhi_hub_[a-z_]+)` \|", DOC.read_text(), flags=re.MULTILINE))


def panels() -> list[dict]:
    return [p for p in json.loads(DASHBOARD.read_text())["panels"] if p["type"] != "row"]


def test_the_dashboard_uses_the_data_source_input_everywhere():
    dashboard = json.loads(DASHBOARD.read_text())
    assert [i["name"] for i in dashboard["__inputs"]] == ["DS_PROMETHEUS"]
    assert dashboard["__inputs"][0]["pluginId"] == "prometheus"
    for panel in panels():
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_the_dashboard_has_the_panels_operators_need():
    titles = " | ".join(p["title"].lower() for p in panels())
    for wanted in (
        "endpoints by state",
        "rtt p95",
        "reconnects",
        "tool calls by outcome",
        "tool call latency",
        "sync lag",
        "sync rows",
        "report ingest",
        "alerts firing",
    ):
        assert wanted in titles, wanted


def test_every_metric_the_dashboard_asks_for_is_documented_and_emitted():
    used = set()
    for panel in panels():
        for target in panel["targets"]:
            for name in NAME.findall(target["expr"]):
                for part in HISTOGRAM_PARTS:
                    if name.endswith(part) and name[: -len(part)] in documented():
                        name = name[: -len(part)]
                used.add(name)
    assert used, "no metric found in the dashboard"
    assert used <= documented(), used - documented()
    source = "\n".join(path.read_text() for path in SOURCES)
    emitted = set(NAME.findall(source))
    assert documented() <= emitted, documented() - emitted
    assert emitted <= documented(), f"undocumented: {emitted - documented()}"
