"""An endpoint's admin change page in a real headless Chromium against a real daphne:
live status in words, the timeline, the Check button's answer, and no horizontal
overflow on a 390 px phone. Screenshots go to artifacts/screenshots/."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.console import test_browser as browser_tests
from tests.console.test_browser import SCREENSHOTS, log_in, off_loop, staff_user
from tests.endpoints.test_admin_status import changes

# The console browser tests' fixtures: their daphne hub and Chromium, a page that fails
# on any CSP violation, the server logs attached to a failure.
browser = browser_tests.browser
hub = browser_tests.hub
page = browser_tests.page
server_logs_on_failure = browser_tests.server_logs_on_failure

pytestmark = [
    pytest.mark.requires_services("mysql", "redis", "chromium"),
    pytest.mark.django_db(transaction=True),
]

PHONE = {"width": 390, "height": 844}


def seed() -> int:
    """A connected endpoint with a long name and token, and a history of flaps."""
    from django.utils import timezone

    from endpoints.lease import lease_round
    from endpoints.pool.status import EndpointStatus
    from endpoints.services.endpoint import endpoint_create
    from endpoints.services.endpoint_status import endpoint_status_store

    endpoint = endpoint_create(
        name="xiaozhi.me 主接入点（客厅的小智音箱，长名字也不能撑破页面）",
        url="wss://api.xiaozhi.me/mcp/?token=eyJhbGciOiJIUzI1NiJ9." + "x" * 300 + ".sig",
    )
    start = timezone.now() - timedelta(hours=5)
    plan = [
        (0, "connecting", ""),
        (1, "connected", ""),
        (3 * 3600, "backoff", "ConnectionRefusedError: [Errno 111] " + "很长的错误信息 " * 20),
        (3 * 3600 + 2, "connecting", ""),
        (3 * 3600 + 2.5, "backoff", "ConnectionRefusedError: [Errno 111] Connection refused"),
        (3 * 3600 + 40, "connecting", ""),
        (3 * 3600 + 41, "connected", ""),
    ]
    changes(endpoint, plan, start=start)
    lease_round(owner="browser-worker:1:a", ttl=300)
    status = EndpointStatus(endpoint_id=endpoint.pk, name=endpoint.name, url=endpoint.url)
    status.state, status.connected, status.initialized = "connected", True, True
    status.health_score, status.rtt_ms, status.rtt_p95_ms = 92, 43.2, 81
    status.last_connected = start + timedelta(seconds=3 * 3600 + 41)
    status.total_requests, status.successful_requests = 120, 118
    endpoint_status_store(worker="browser-worker:1:a", changes=[(status, "connecting")], latest=[])
    return endpoint.pk


def overflow(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def test_the_endpoint_page_reads_well_and_fits_a_phone(page, hub):
    off_loop(staff_user)
    pk = off_loop(seed)
    path = f"/admin/endpoints/endpoint/{pk}/change/"
    log_in(page, hub, path)

    summary = page.text_content(".endpoint-status-summary")
    assert "Connected · health 92/100 · RTT 43 ms" in summary
    timeline = page.text_content(".endpoint-timeline")
    assert "backoff" in timeline and "×2" in timeline and "so far" in timeline
    page.click(".endpoint-changes summary")  # each change, with its time and error
    assert page.locator(".endpoint-changes li").count() == 8
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "admin-endpoint.png"), full_page=True)

    page.set_viewport_size(PHONE)
    assert overflow(page) <= 0, "the change page scrolls sideways at 390 px"
    page.screenshot(path=str(SCREENSHOTS / "admin-endpoint-phone.png"), full_page=True)

    # No pool worker runs next to this hub: the Check button says why it failed.
    page.click("button[name=check]")
    page.wait_for_url(f"{hub.url}{path}")
    error = page.text_content(".messagelist .error")
    assert "failed" in error and "No endpoint pool worker is running" in error
    assert overflow(page) <= 0, "the check's message scrolls sideways at 390 px"
    page.screenshot(path=str(SCREENSHOTS / "admin-endpoint-check-phone.png"), full_page=True)
    assert "x" * 300 not in page.content()  # the token stays masked
