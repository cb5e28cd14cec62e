"""The MCP server and tool pages of the admin in a real Chromium against the real daphne
process (tests/console/test_browser.py's fixtures; a CSP violation fails the test):
the transport shows its own fields, and at 390 px no page is wider than the screen."""

from __future__ import annotations

import sys

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

PHONE = {"width": 390, "height": 844}
WIDER_THAN_THE_SCREEN = """() => {
  const width = document.documentElement.clientWidth;
  const wide = [...document.querySelectorAll("body *")]
    .filter((el) => el.getBoundingClientRect().right > width + 1
      || (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX === "visible"))
    .map((el) => `${el.tagName.toLowerCase()}#${el.id}.${el.className}`);
  return {scroll: document.documentElement.scrollWidth, width, wide: wide.slice(0, 10)};
}"""


def rows():
    from endpoints.models import McpServer, Tool
    from endpoints.services.mcp_server_status import mcp_server_status_store
    from endpoints.upstreams.records import ReplicaStatus, ServerStatus

    server = McpServer.objects.create(
        name="calc",
        transport="stdio",
        command=sys.executable,
        args=["-m", "tests.endpoints.upstream_servers", "--transport", "stdio"],
    )
    long_error = "connection refused by https://upstream.example.com/" + "x" * 120
    mcp_server_status_store(
        status=ServerStatus(
            server_id=server.pk,
            name="calc",
            state="restarting",
            replicas=(
                ReplicaStatus(0, "stdio: python -m tests.endpoints.upstream_servers", "ready"),
                ReplicaStatus(1, "stdio: python -m x", "restarting", last_error=long_error),
            ),
            tool_count=1,
            last_error=long_error,
        )
    )
    tool = Tool.objects.create(
        server=server,
        upstream_name="weather_forecast_for_a_very_long_city_name",
        exposed_name="calc__weather_forecast_for_a_very_long_city_name",
        available=True,
        description="The forecast. " * 30,
        input_schema={
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "A city"},
                "days": {"type": "integer"},
                "unit": {"enum": ["c", "f"]},
                "where": {"type": "object"},
            },
            "required": ["city"],
        },
    )
    return server.pk, tool.pk


def assert_fits(tab, what: str) -> None:
    measured = tab.evaluate(WIDER_THAN_THE_SCREEN)
    assert measured["scroll"] <= measured["width"], f"{what} overflows at 390 px: {measured}"


def test_server_and_tool_pages_fit_a_phone_and_the_transport_shows_its_fields(page, hub):  # noqa: F811
    off_loop(staff_user)
    server_id, tool_id = off_loop(rows)
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_viewport_size(PHONE)
    server_page = f"/admin/endpoints/mcpserver/{server_id}/change/"
    log_in(page, hub, server_page)

    stdio, url = (
        page.locator("fieldset.hub-transport-stdio"),
        page.locator("fieldset.hub-transport-url"),
    )
    assert stdio.is_visible() and not url.is_visible()
    assert page.locator("#id_args").input_value() == (
        "-m\ntests.endpoints.upstream_servers\n--transport\nstdio"
    )
    assert_fits(page, "the MCP server page")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "admin-mcp-server-390.png"), full_page=True)

    page.select_option("#id_transport", "streamable-http")
    assert url.is_visible() and not stdio.is_visible()
    assert page.locator("#id_url").is_visible() and not page.locator("#id_command").is_visible()
    page.select_option("#id_transport", "stdio")
    assert stdio.is_visible() and not url.is_visible()
    assert_fits(page, "the MCP server page")

    # A new server starts as stdio: only its fields.
    page.goto(f"{hub.url}/admin/endpoints/mcpserver/add/")
    assert page.locator("#id_command").is_visible() and not page.locator("#id_url").is_visible()

    page.goto(f"{hub.url}/admin/endpoints/tool/{tool_id}/change/")
    assert page.locator("#id_description_override").is_visible()
    assert page.locator("#tool-try-form label.required", has_text="city").is_visible()
    assert_fits(page, "the tool page")
    page.screenshot(path=str(SCREENSHOTS / "admin-tool-390.png"), full_page=True)

    page.goto(f"{hub.url}/admin/endpoints/tool/")
    assert_fits(page, "the tool list")

    # Try it without a worker: an honest answer, on a page that fits too.
    page.goto(f"{hub.url}/admin/endpoints/tool/{tool_id}/change/")
    page.fill("#id_arg-0", "Beijing")
    page.click("#tool-try-form input[type=submit]")
    page.wait_for_selector("#tool-try-result")
    assert "No pool worker ran the call" in page.locator("#tool-try-result h2").inner_text()
    assert page.locator("#id_arg-0").input_value() == "Beijing"
    assert_fits(page, "the Try it answer")
    assert errors == []
