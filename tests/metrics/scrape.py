"""Reading /metrics as Prometheus does: the text parser, one family per name."""

from __future__ import annotations

import re
import urllib.error
import urllib.request

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

TOKEN = "metrics-test-token-0123456789"  # noqa: S105 - a test value, at least 16 characters


def parse(text: str) -> dict[str, Metric]:
    """The families by name; fails if a name has two HELP or TYPE lines (invalid)."""
    for kind in ("HELP", "TYPE"):
        names = re.findall(rf"^# {kind} (\S+)", text, flags=re.MULTILINE)
        assert len(names) == len(set(names)), f"duplicate {kind} lines: {names}"
    families = {}
    for family in text_string_to_metric_families(text):
        assert family.name not in families, f"family {family.name} twice"
        families[family.name] = family
    return families


def values(families: dict[str, Metric], sample: str, **labels: str) -> list[float]:
    """The values of the samples named `sample` whose labels include `labels`."""
    found = []
    for family in families.values():
        for s in family.samples:
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                found.append(s.value)
    return found


def workers(families: dict[str, Metric], family: str) -> set[str]:
    if family not in families:
        return set()
    return {s.labels["worker"] for s in families[family].samples if "worker" in s.labels}


def scrape_client(client, token: str | None = TOKEN, **extra) -> tuple[int, str]:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    response = client.get("/metrics", **headers, **extra)
    return response.status_code, response.content.decode()


def scrape_http(port: int, token: str | None = TOKEN) -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
