"""A screenshot of every page, desktop and phone, English and Chinese: CI's artifacts.

One real daphne hub (test_browser.py's) with a bit of everything in it: an endpoint,
an MCP server with the tools it listed, a device with a conversation, sync runs, an
alert, a notification channel. One Chromium; per language one context (the browser's
locale and the `django_language` cookie) and one login. Each page is saved as
artifacts/screenshots/<language>/<width>/<page>.png (artifacts/ is not committed; CI
keeps it), and at 390 px each page must fit the width (nothing scrolls sideways), and
no page may log a script error or have its Content-Security-Policy block anything.
Every problem of every page is collected first, so one run shows them all.
"""

from __future__ import annotations

import pytest

from tests.console.helpers import REPORT_SECRET, ingest
from tests.console.test_browser import (  # noqa: F401 - fixtures, used by name
    CHROMIUM_ARGS,
    REPORT_CSP_VIOLATIONS,
    SCREENSHOTS,
    hub,
    log_in,
    off_loop,
    server_logs_on_failure,
    staff_user,
    wait_live,
)
from tests.services import CHROMIUM

pytestmark = [
    pytest.mark.requires_services("mysql", "redis", "chromium"),
    pytest.mark.django_db(transaction=True),
]

LANGUAGES = {"en": "en-US", "zh-hans": "zh-CN"}  # the cookie's value: the browser's locale
VIEWPORTS = [(1280, 800), (390, 844)]
PHONE = 390
DEVICE = "aa:bb:cc:dd:ee:07"

# (file name, path, what shows that the page is complete); {names} from the data below.
PAGES = [
    ("console-dashboard", "/console/", "#sync-summary .stats"),
    ("console-devices", "/console/devices/", "#device-list li"),
    ("console-transcript", "/console/devices/{device}/", "#transcript .message-body"),
    ("console-sync", "/console/sync/", "#sync-runs table"),
    ("admin-index", "/admin/", "#content-main"),
    ("admin-endpoints", "/admin/endpoints/endpoint/", "#result_list"),
    ("admin-endpoint", "/admin/endpoints/endpoint/{endpoint}/change/", "#content-main"),
    ("admin-mcp-servers", "/admin/endpoints/mcpserver/", "#result_list"),
    ("admin-mcp-server", "/admin/endpoints/mcpserver/{server}/change/", "#content-main"),
    ("admin-tools", "/admin/endpoints/tool/", "#result_list"),
    ("admin-tool", "/admin/endpoints/tool/{tool}/change/", "#content-main"),
    ("admin-chat-messages", "/admin/chathistory/chatmessage/", "#result_list"),
    ("admin-chat-message", "/admin/chathistory/chatmessage/{message}/change/", "#content-main"),
    ("admin-sync-runs", "/admin/chathistory/syncrun/", "#result_list"),
    ("admin-alerts", "/admin/alerts/alert/", "#result_list"),
    ("admin-alert", "/admin/alerts/alert/{alert}/change/", "#content-main"),
    ("admin-alert-rules", "/admin/alerts/alertrule/", "#result_list"),
    ("admin-notification-channels", "/admin/notifications/notificationchannel/", "#result_list"),
    (
        "admin-notification-channel",
        "/admin/notifications/notificationchannel/{channel}/change/",
        "#content-main",
    ),
    ("api-docs", "/api/docs/", ".opblock-summary-path"),
]


def a_bit_of_everything() -> dict[str, int]:
    """The rows the pages show, made through the hub's own services where it has them."""
    from datetime import timedelta

    from django.utils import timezone

    from chathistory.models import ChatMessage, Device, RunStatus, SyncRun
    from endpoints.services.endpoint import endpoint_create
    from endpoints.services.mcp_server import mcp_server_create
    from endpoints.services.mcp_server_status import tool_catalog_store
    from endpoints.upstreams.records import UpstreamTool
    from xiaozhi_hub.alerts.models import Alert, AlertRule
    from xiaozhi_hub.notifications.models import NotificationChannel

    staff_user()
    endpoint = endpoint_create(
        name="xiaozhi.me 主接入点",
        url="wss://api.xiaozhi.me/mcp/?token=eyJhbGciOiJIUzI1NiJ9.screenshot-secret.sig",
        enabled=False,
    )
    server = mcp_server_create(
        name="amap", transport="sse", url="https://mcp.example/sse?key=ScreenshotKey", enabled=False
    )
    city = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    tool_catalog_store(
        server_id=server.pk,
        tools=[
            UpstreamTool("maps_weather", "查询城市天气 / the weather of a city", city),
            UpstreamTool("maps_geo", "地址转坐标 / an address's coordinates", {"type": "object"}),
        ],
    )
    ingest(DEVICE, "今天天气怎么样？☀️", session="sess-shot")
    ingest(DEVICE, "上海今天晴，25 度。", session="sess-shot", chat_type=2)
    ingest(DEVICE, "给我讲个笑话 😄", session="sess-shot")

    # Sync runs as the tick leaves them: one that copied rows, then quiet ones.
    start = timezone.now() - timedelta(minutes=5)
    for n, written in enumerate([12, 0, 0, 0, 0]):
        run = SyncRun.objects.create(status=RunStatus.SUCCESS, rows_read=written)
        SyncRun.objects.filter(pk=run.pk).update(
            rows_written=written,
            started_at=start + timedelta(seconds=30 * n),
            finished_at=start + timedelta(seconds=30 * n, milliseconds=40),
        )

    rule, _ = AlertRule.objects.get_or_create(
        name="endpoint down", defaults={"kind": "endpoint_down"}
    )
    alert = Alert.objects.create(
        rule=rule,
        subject=f"endpoint:{endpoint.pk}",
        subject_label=endpoint.name,
        message="Endpoint xiaozhi.me 主接入点 is down",
        message_zh="接入点 xiaozhi.me 主接入点 已断开",
        started_at=timezone.now() - timedelta(minutes=3),
    )
    channel = NotificationChannel(
        name="运维群 webhook", kind="webhook", target={"url": "https://hooks.example/x/ShotSecret"}
    )
    channel.full_clean()
    channel.save()
    return {
        "device": Device.objects.get().pk,
        "endpoint": endpoint.pk,
        "server": server.pk,
        "tool": server.tools.order_by("pk").first().pk,
        "message": ChatMessage.objects.order_by("pk").first().pk,
        "alert": alert.pk,
        "channel": channel.pk,
    }


class Problems:
    """What went wrong, per page: errors logged, CSP blocks, a page wider than the phone."""

    def __init__(self):
        self.found: list[str] = []
        self.where = ""

    def add(self, text: str) -> None:
        self.found.append(f"{self.where}: {text}")


def watch(context, problems: Problems):
    context.expose_function("reportCspViolation", lambda text: problems.add(f"CSP: {text}"))
    context.add_init_script(REPORT_CSP_VIOLATIONS)
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.on("pageerror", lambda error: problems.add(f"script error: {error}"))

    def console(line):
        if line.type == "error" and not line.location["url"].endswith("/favicon.ico"):
            problems.add(f"console error: {line.text} ({line.location['url']})")

    page.on("console", console)
    return page


def settle(page, path: str, ready: str, problems: Problems) -> None:
    """Wait until the page shows its data; a page that never does is a problem, not the end."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for step, wait in (
        ("loaded", lambda: page.wait_for_load_state("load")),
        ("live", lambda: path.startswith("/console/") and wait_live(page)),
        (ready, lambda: page.wait_for_selector(ready)),
    ):
        try:
            wait()
        except PlaywrightTimeout:
            problems.add(f"never {step}")
            return


def test_every_page_in_both_languages_on_desktop_and_phone(hub, settings):  # noqa: F811
    from playwright.sync_api import sync_playwright

    settings.HUB_REPORT_SECRET = REPORT_SECRET  # the conversation is reported, as a server does

    ids = off_loop(a_bit_of_everything)
    problems = Problems()
    saved = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        try:
            for language, locale in LANGUAGES.items():
                context = browser.new_context(
                    locale=locale, viewport={"width": 1280, "height": 800}
                )
                context.add_cookies(
                    [{"name": "django_language", "value": language, "url": hub.url}]
                )
                page = watch(context, problems)
                problems.where = f"{language} login"
                log_in(page, hub, "/admin/")
                for width, height in VIEWPORTS:
                    page.set_viewport_size({"width": width, "height": height})
                    folder = SCREENSHOTS / language / str(width)
                    folder.mkdir(parents=True, exist_ok=True)
                    for name, path, ready in PAGES:
                        problems.where = f"{language} {width}px {name}"
                        page.goto(f"{hub.url}{path.format(**ids)}", wait_until="commit")
                        settle(page, path, ready, problems)
                        # The hub's own pages name their language (Swagger UI's does not).
                        lang = page.evaluate("document.documentElement.lang")
                        if lang != language and not path.startswith("/api/"):
                            problems.add(f"<html lang={lang!r}>, not {language!r}")
                        file = folder / f"{name}.png"
                        page.screenshot(path=str(file), full_page=True)
                        saved.append(file)
                        if width == PHONE:
                            scroll = page.evaluate("document.documentElement.scrollWidth")
                            inner = page.evaluate("innerWidth")
                            if scroll > inner + 1:
                                problems.add(f"{scroll} px wide in a {inner} px window")
                context.close()
        finally:
            browser.close()

    assert len(saved) == len(LANGUAGES) * len(VIEWPORTS) * len(PAGES)
    assert all(file.stat().st_size > 0 for file in saved)
    assert problems.found == [], "\n".join(problems.found)
