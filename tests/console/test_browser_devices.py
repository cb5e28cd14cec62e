"""The devices and transcript pages in a real headless Chromium against a real daphne,
organised the way the xiaozhi manager is: devices by agent, a transcript header with the
device's alias, board and agent, sessions by their title (or first words), "load older"
through the history API's cursor, search in a device and across devices, and the exports.
"""

from __future__ import annotations

import csv
import io
import json
import re
import time

import pytest
from playwright.sync_api import expect

from tests.console import test_browser as browser_tests
from tests.console.helpers import ingest
from tests.console.test_browser import SCREENSHOTS, log_in, message, off_loop, staff_user, wait_live

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

SPEAKER = "aa:bb:cc:dd:30:01"  # agent 客厅助手, with 70 old messages and two new sessions
LAMP = "aa:bb:cc:dd:30:02"  # the same agent
LONER = "aa:bb:cc:dd:30:03"  # no agent
OLD = 70  # more than the live snapshot (50): the rest comes with "load older"


def fits_a_phone(page, name: str) -> None:
    """At 390 px nothing is wider than the screen; a screenshot for the artifacts."""
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{name}: {width} px wide at 390 px"
        page.screenshot(path=str(SCREENSHOTS / f"{name}-phone.png"), full_page=True)
    finally:
        page.set_viewport_size({"width": 1200, "height": 900})


def seed() -> dict:
    from chathistory.models import Agent, ChatSession, Device

    for i in range(OLD):
        ingest(SPEAKER, f"旧消息 {i:02d} 讲个笑话", session="old-session-0001")
        time.sleep(0.002)  # distinct milliseconds, as a conversation has
    ingest(SPEAKER, "  打开   厨房的灯  然后播放音乐", session="new-session-0002")
    ingest(SPEAKER, "好的", session="new-session-0002", chat_type=2)
    ingest(SPEAKER, "只有助手说话", session="agent-only-0003", chat_type=2)
    ingest(LAMP, "台灯也想听笑话", session="lamp-session")
    ingest(LONER, "无名设备的消息", session="loner-session")
    agent = Agent.objects.create(agent_id="agent-living", name="客厅助手")
    Device.objects.filter(mac__in=[SPEAKER, LAMP]).update(agent=agent)
    Device.objects.filter(mac=SPEAKER).update(alias="厨房音箱", board="esp32-s3-box")
    ChatSession.objects.filter(session_id="old-session-0001").update(title="天气与笑话")
    return {mac: Device.objects.get(mac=mac).pk for mac in (SPEAKER, LAMP, LONER)}


def test_devices_by_agent_then_device_and_a_search_across_devices(page, hub):
    off_loop(staff_user)
    pks = off_loop(seed)
    log_in(page, hub, "/console/devices/")
    wait_live(page)

    groups = page.locator("#device-list section.agent-group")
    agent = page.locator('section.agent-group[data-agent="agent-living"]')
    assert agent.locator(".agent-name").inner_text() == "客厅助手"
    assert agent.locator("li").count() == 2
    assert {agent.locator("li").nth(i).get_attribute("data-device") for i in range(2)} == {
        SPEAKER,
        LAMP,
    }
    assert agent.locator(f'li[data-device="{SPEAKER}"] .device-name').inner_text() == "厨房音箱"
    alone = page.locator('section.agent-group[data-agent=""]')
    assert alone.locator(".agent-name").inner_text() == "No agent"
    assert alone.locator("li").get_attribute("data-device") == LONER
    assert groups.count() == 2
    # Times are formatted, never raw ISO strings.
    assert "T" not in agent.locator(f'li[data-device="{SPEAKER}"] time').inner_text()

    # Search every device's messages: results from both devices of the agent.
    page.fill("#message-search-q", "笑话")
    page.click("#message-search button[type=submit]")
    hits = page.locator("#search-list li")
    hits.first.wait_for()
    page.locator("#search-list li", has_text="台灯也想听笑话").wait_for()
    names = {hits.nth(i).locator(".device-name").inner_text() for i in range(hits.count())}
    assert {"厨房音箱", LAMP} <= names
    assert hits.count() == 50 and page.is_visible("#search-more")  # 71 matches: paged
    page.click("#search-more")
    expect(hits).to_have_count(71)
    assert page.is_hidden("#search-more")
    export = page.get_attribute("#search-export-csv", "href")
    assert export.startswith("/api/v2/messages/export?") and "format=csv" in export
    with page.expect_download() as download:
        page.click("#search-export-jsonl")
    lines = download.value.path().read_bytes().decode("utf-8").splitlines()
    assert len(lines) == 71 and {json.loads(line)["device"] for line in lines} == {SPEAKER, LAMP}
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "devices-search.png"), full_page=True)
    fits_a_phone(page, "devices-search")

    # A hit leads to its device's transcript, searched for the same words.
    page.locator("#search-list li", has_text="台灯也想听笑话").locator("a").click()
    page.wait_for_url(re.compile(rf"/console/devices/{pks[LAMP]}/\?q="))
    message(page, "台灯也想听笑话").wait_for()
    assert page.input_value("#transcript-q") == "笑话"


def test_transcript_header_titles_load_older_search_and_export(page, hub):
    off_loop(staff_user)
    pks = off_loop(seed)
    log_in(page, hub, "/console/devices/")
    page.goto(f"{hub.url}/console/devices/{pks[SPEAKER]}/")
    wait_live(page)

    # The header: alias, identifier, board and agent.
    assert page.inner_text(".device-header h1") == "厨房音箱"
    assert page.inner_text("#device-mac") == SPEAKER
    assert page.inner_text("#device-board") == "esp32-s3-box"
    assert "客厅助手" in page.inner_text("#device-agent")

    # Sessions by title, by the first words of their first user message, or by a short id.
    titles = page.locator("#session-list .session-title")
    shown = {titles.nth(i).inner_text() for i in range(titles.count())}
    assert {"天气与笑话", "打开 厨房的灯 然后播放音乐", "Session agent-only-…"} <= shown
    assert not any("old-session-0001" in text for text in shown)
    message(page, "只有助手说话").wait_for()
    breaks = page.locator("#transcript .session-break")
    assert "天气与笑话" in [breaks.nth(i).inner_text() for i in range(breaks.count())]

    # The live snapshot holds the newest 50; "load older" pages back through the cursor.
    assert message(page, "旧消息 00 讲个笑话").count() == 0
    page.click("#load-older")
    message(page, "旧消息 00 讲个笑话").wait_for()
    page.locator("#older-status", has_text="No older messages.").wait_for()
    assert page.locator("#transcript .message").count() == OLD + 3  # each once
    assert page.is_hidden("#load-older")
    page.screenshot(path=str(SCREENSHOTS / "transcript-older.png"), full_page=True)
    fits_a_phone(page, "transcript-older")

    # Search within the device: only the matches, and the export follows the search.
    page.fill("#transcript-q", "旧消息 05")
    page.click("#transcript-search button[type=submit]")
    expect(page.locator("#transcript .message")).to_have_count(1)
    assert message(page, "旧消息 05 讲个笑话").count() == 1
    href = page.get_attribute("#export-csv", "href")
    assert href.startswith(f"/api/v2/devices/{pks[SPEAKER]}/export?") and "q=" in href
    with page.expect_download() as download:
        page.click("#export-csv")
    raw = download.value.path().read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM: Excel shows the Chinese text
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert [row["content"] for row in rows] == ["旧消息 05 讲个笑话"]
    assert rows[0]["device_alias"] == "厨房音箱" and rows[0]["session_title"] == "天气与笑话"
    page.click("#transcript-search-clear")
    page.locator("#transcript .message").nth(1).wait_for()

    # A session: its messages, and its own export route.
    page.locator(".session-filter", has_text="打开 厨房的灯").click()
    expect(page.locator("#transcript .message")).to_have_count(2)
    href = page.get_attribute("#export-jsonl", "href")
    assert "/sessions/" in href and href.endswith("/export?format=jsonl")
    with page.expect_download() as download:
        page.click("#export-jsonl")
    records = [json.loads(line) for line in download.value.path().read_text().splitlines()]
    assert [r["content"] for r in records] == ["  打开   厨房的灯  然后播放音乐", "好的"]
