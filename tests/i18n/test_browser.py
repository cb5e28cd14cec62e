"""The console's scripts in Chinese, in a real Chromium asking for zh-CN, against a real
daphne whose TIME_ZONE is Asia/Shanghai: their messages come from the JavaScript
catalog and times are shown in the hub's zone, without ISO fractions of a second."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from tests.console.test_browser import (
    SCREENSHOTS,
    chromium,
    log_in,
    off_loop,
    running_hub,
    staff_user,
    wait_live,
)

pytestmark = [
    pytest.mark.requires_services("mysql", "redis", "chromium"),
    pytest.mark.django_db(transaction=True),
]

# 04:05:06.123456 UTC is 12:05:06 in Shanghai (UTC+8, no daylight saving time).
EXPIRES = datetime(2030, 3, 1, 4, 5, 6, 123456, tzinfo=UTC)
SHOWN = "2030-03-01 12:05:06"


@pytest.fixture(scope="module")
def hub(django_db_setup, django_db_blocker, tmp_path_factory):
    with running_hub(tmp_path_factory, TIME_ZONE="Asia/Shanghai") as server:
        yield server


@pytest.fixture(scope="module")
def chinese_browser(tmp_path_factory):
    with chromium(
        tmp_path_factory,
        locale="zh-CN",  # Accept-Language and navigator.language
        timezone_id="America/New_York",  # not the hub's: the page must not use it
    ) as context:
        yield context


def test_console_scripts_speak_chinese_and_show_times_in_the_hubs_zone(chinese_browser, hub):
    from endpoints.selectors.endpoint import endpoint_status_list
    from endpoints.services.endpoint import endpoint_create
    from xiaozhi_hub.broadcast import HEALTH, broadcast

    off_loop(staff_user)
    off_loop(
        endpoint_create, name="主接入点", url="wss://api.xiaozhi.me/mcp/?token=t", enabled=False
    )
    page = chinese_browser.new_page()
    page.set_default_timeout(20_000)
    try:
        # The login page: Chinese for a Chinese browser, its switch on a phone too.
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(f"{hub.url}/admin/login/")
        assert "用户名" in page.text_content("#content-main")
        assert page.is_visible(".language-switch button")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "login-zh-hans-phone.png"))
        page.set_viewport_size({"width": 1200, "height": 900})

        log_in(page, hub, "/console/")
        wait_live(page)
        assert page.evaluate("document.documentElement.lang") == "zh-hans"
        assert "实时" in page.text_content("#console-status")  # "Live (WebSocket)"
        page.wait_for_selector('[data-endpoint] >> text="主接入点"')
        card = page.text_content("[data-endpoint]")
        assert "重连" in card and "检查健康" in card  # the card's buttons
        assert "Reconnect" not in card and "Check health" not in card

        (status,) = off_loop(endpoint_status_list)
        status.update(enabled=True, state="connected", tokenExpiresAt=EXPIRES.isoformat())
        off_loop(broadcast, HEALTH, "endpoint_health", {"endpoint": status})
        page.wait_for_selector('.endpoint .badge[data-state="connected"]')
        foot = page.text_content(".endpoint .endpoint-foot")
        assert SHOWN in foot, foot
        assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d", foot), foot  # no fractions
        assert "T04:05" not in foot
        assert page.text_content(".endpoint .badge") == "已连接"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "dashboard-zh-hans.png"), full_page=True)

        # The language switch fits a phone and switches the scripts too.
        page.set_viewport_size({"width": 390, "height": 844})
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        assert page.is_visible(".language-switch select")
        page.screenshot(path=str(SCREENSHOTS / "dashboard-zh-hans-phone.png"))
        page.select_option(".language-switch select", "en")
        page.click(".language-switch button")
        page.wait_for_url(f"{hub.url}/console/")
        wait_live(page)
        assert page.evaluate("document.documentElement.lang") == "en"
        assert "Live" in page.text_content("#console-status")
    finally:
        page.close()
        chinese_browser.clear_cookies()
