"""The dashboard's health history in a real headless Chromium against a real daphne:
each endpoint card's heartbeat bar has one coloured beat per minute of the last hour,
a `health_bucket` event colours a new one live, the RTT chart draws the stored range;
the MCP servers have their bar too. A screenshot goes to artifacts/screenshots/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.console import test_browser as browser_tests
from tests.console.test_browser import SCREENSHOTS, log_in, off_loop, staff_user, wait_live

# The browser test's fixtures: its daphne hub and Chromium, a page that fails on any CSP
# violation, the server logs attached to a failure.
browser = browser_tests.browser
hub = browser_tests.hub
page = browser_tests.page
server_logs_on_failure = browser_tests.server_logs_on_failure

pytestmark = [
    pytest.mark.requires_services("mysql", "redis", "chromium"),
    pytest.mark.django_db(transaction=True),
]

# Minutes ago -> state. Minutes 2..56 back: a minute that passes during the test keeps
# every one of them within the bar's last 60.
PLAN = {minutes: "up" for minutes in range(2, 52)} | {52: "partial", 53: "partial", 54: "partial"}
PLAN |= {55: "down", 56: "down"}


def seed() -> tuple[int, int]:
    from endpoints.models import EndpointHealthBucket, McpServer, McpServerHealthBucket
    from endpoints.services.endpoint import endpoint_create

    endpoint = endpoint_create(
        name="主接入点", url="wss://api.xiaozhi.me/mcp/?token=eyJ.history-secret.sig", enabled=False
    )
    server = McpServer.objects.create(name="files", command="true", enabled=False)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    rows, server_rows = [], []
    for minutes, state in PLAN.items():
        up = {"up": 60, "partial": 40, "down": 0}[state]
        rows.append(
            EndpointHealthBucket(
                endpoint_id=endpoint.pk,
                resolution="minute",
                start=now - timedelta(minutes=minutes),
                worker="w1",
                up_seconds=up,
                down_seconds=60 - up,
                pings_ok=2 if up else 0,
                rtt_sum_ms=2 * (30 + minutes) if up else 0,
                rtt_count=2 if up else 0,
                rtt_max_ms=40 + minutes if up else None,
                rtt_histogram=[0, 0, 0, 0, 2] + [0] * 13 if up else [],
            )
        )
        server_rows.append(
            McpServerHealthBucket(
                server_id=server.pk,
                resolution="minute",
                start=now - timedelta(minutes=minutes),
                worker="w1",
                up_seconds=60,
            )
        )
    hour = now.replace(minute=0)
    rows.append(
        EndpointHealthBucket(
            endpoint_id=endpoint.pk, resolution="hour", start=hour, worker="w1",
            up_seconds=3000, down_seconds=600, pings_ok=100, rtt_sum_ms=4000, rtt_count=100,
            rtt_max_ms=90, rtt_histogram=[0, 0, 0, 0, 100] + [0] * 13,
        )
    )  # fmt: skip
    EndpointHealthBucket.objects.bulk_create(rows)
    McpServerHealthBucket.objects.bulk_create(server_rows)
    return endpoint.pk, server.pk


def beats(page, selector: str) -> dict[str, int]:
    states = page.eval_on_selector_all(
        f"{selector} .heartbeat .beat", "nodes => nodes.map(n => n.dataset.state)"
    )
    return {state: states.count(state) for state in ("up", "partial", "down", "none")}


def test_the_heartbeat_bar_shows_the_last_hour_and_takes_new_buckets_live(page, hub):
    off_loop(staff_user)
    endpoint_id, server_id = off_loop(seed)

    log_in(page, hub, "/console/")
    wait_live(page)
    card = f'[data-endpoint="{endpoint_id}"]'
    page.wait_for_selector(f"{card} .heartbeat .beat")
    assert beats(page, card) == {"up": 50, "partial": 3, "down": 2, "none": 5}
    assert page.locator(f"{card} .heartbeat .beat").count() == 60
    # Uptime from the hour bucket: 3000 of 3600 s.
    assert "83.33 %" in page.text_content(f"{card} .uptime")
    assert page.locator(f"{card} .rtt-chart polyline.rtt-avg").count() >= 1
    server_card = f'[data-server="{server_id}"]'
    assert beats(page, server_card)["up"] == 55
    assert "history-secret" not in page.content()

    # A worker closes a minute in which the endpoint was down: its beat turns red at once.
    from xiaozhi_hub.broadcast import HEALTH, broadcast

    minute = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
    bucket = {
        "endpointId": endpoint_id, "start": minute.isoformat(), "state": "down",
        "upSeconds": 0, "downSeconds": 60, "uptimePercent": 0.0, "pingsOk": 0,
        "pingsFailed": 0, "rttAvgMs": None, "rttP95Ms": None, "rttMaxMs": None,
        "disconnections": 1,
    }  # fmt: skip
    payload = {
        "resolution": "minute",
        "bucketSeconds": 60,
        "worker": "w1",
        "endpoints": [bucket],
        "servers": [],
    }
    off_loop(broadcast, HEALTH, "health_bucket", payload)
    page.locator(f'{card} .heartbeat .beat[data-state="down"]').nth(2).wait_for()
    assert beats(page, card)["none"] == 4

    # Another range: the chart draws the hour buckets of REST.
    page.select_option(f"{card} .rtt-range", "7d")
    page.wait_for_selector(f"{card} .rtt-chart[aria-label*='average 40 ms']")

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "dashboard-history.png"), full_page=True)
