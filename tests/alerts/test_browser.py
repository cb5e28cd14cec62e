"""The dashboard's alerts panel in a real headless Chromium against a real daphne
(tests/console/test_browser.py's hub and browser): a firing alert appears live, an
operator acknowledges it with the button, the Content-Security-Policy blocks nothing.
Screenshot: artifacts/screenshots/alerts.png."""

from __future__ import annotations

import pytest
from django.utils import timezone

from tests.console.test_browser import (  # noqa: F401 - fixtures
    SCREENSHOTS,
    browser,
    hub,
    log_in,
    off_loop,
    page,
    server_logs_on_failure,
    staff_user,
    wait_live,
)

pytestmark = [
    pytest.mark.requires_services("mysql", "redis", "chromium"),
    pytest.mark.django_db(transaction=True),
]


def failing_endpoint_alert() -> None:
    from endpoints.models import Endpoint, EndpointLiveStatus
    from tests.alerts.conftest import make_rule
    from xiaozhi_hub.alerts import kinds
    from xiaozhi_hub.alerts.engine import evaluate_rules

    make_rule(kinds.ENDPOINT_FAILED, severity="critical")
    endpoint = Endpoint.objects.create(name="厨房", url="wss://example.org/mcp/?token=BrowserTok")
    Endpoint.objects.filter(pk=endpoint.pk).update(
        owner="w", lease_expires_at=timezone.now() + timezone.timedelta(hours=1)
    )
    EndpointLiveStatus.objects.create(endpoint=endpoint, state="failed")
    evaluate_rules()


def test_a_firing_alert_appears_live_and_is_acknowledged_from_the_dashboard(page, hub):  # noqa: F811
    off_loop(staff_user)
    log_in(page, hub, "/console/")
    wait_live(page)
    page.wait_for_selector("#alerts .no-alerts")

    off_loop(failing_endpoint_alert)
    row = page.locator('#alerts tr[data-state="firing"]')
    row.wait_for()
    assert "Endpoint “厨房” failed: it gave up reconnecting." in row.inner_text()
    assert "BrowserTok" not in page.content()

    row.get_by_role("button", name="Acknowledge").click()
    page.locator("#alerts tr", has_text="acknowledged by operator").wait_for()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "alerts.png"), full_page=True)
