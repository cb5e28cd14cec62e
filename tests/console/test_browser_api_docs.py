"""/api/docs/ in a real headless Chromium against the real daphne process: Swagger UI,
served by the hub itself, renders every operation of the schema with no CSP
violation and no console error (the `page` fixture of test_browser.py fails the
test on any violation)."""

from __future__ import annotations

import json

import pytest

from tests.console.test_browser import (  # noqa: F401 - fixtures, used by name
    SCREENSHOTS,
    browser,
    hub,
    log_in,
    off_loop,
    page,
    server_logs_on_failure,
    staff_user,
)

pytestmark = [
    pytest.mark.requires_services("mysql", "redis", "chromium"),
    pytest.mark.django_db(transaction=True),
]


def test_swagger_ui_renders_every_operation_under_the_csp(page, hub):  # noqa: F811
    off_loop(staff_user)
    log_in(page, hub, "/console/")  # the admin's login page has no icon: Chromium's 404
    errors, requests = [], []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda line: line.type == "error" and errors.append(line.text))
    page.on("request", lambda request: requests.append(request.url))
    page.on(
        "response",
        lambda response: (
            response.status >= 400 and errors.append(f"{response.status} {response.url}")
        ),
    )
    page.goto(f"{hub.url}/api/docs/")
    page.wait_for_selector(".opblock-summary-path")
    schema = json.loads(page.evaluate("fetch('/api/schema/?format=json').then(r => r.text())"))
    operations = sum(len(item) for item in schema["paths"].values())
    assert page.locator(".opblock").count() == operations
    # Swagger UI breaks long paths with zero-width spaces.
    paths = {
        p.replace("\u200b", "") for p in page.locator(".opblock-summary-path").all_inner_texts()
    }
    assert {"/api/endpoints", "/api/v2/devices", "/xiaozhi/agent/chat-history/report"} <= paths
    # Everything the page loaded came from the hub: no CDN.
    assert requests and all(url.startswith(hub.url) for url in requests), requests
    # Opening an operation shows its documented answer.
    page.locator(".opblock-summary-path", has_text="/api/pool/options").first.click()
    page.wait_for_selector(".opblock.is-open .responses-table")
    assert errors == []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "api-docs.png"), full_page=False)
