"""The console pages in a real headless Chromium against a real daphne process.

Debian's `chromium` (installed by `make setup`) driven by Playwright; the hub
runs as the documented daphne command on MariaDB and Redis; chat messages
arrive through the ingest endpoint. Screenshots go to artifacts/screenshots/.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connections as db_connections

from tests.console.helpers import REPORT_SECRET, ingest, ingest_over_http
from tests.services import (
    CHROMIUM,
    REDIS_URL,
    REPO,
    bin_path,
    free_port,
    hub_database_url,
    hub_env,
    start,
    stop,
    wait_for_port,
)

SCREENSHOTS = REPO / "artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEVICE = "aa:bb:cc:dd:ee:01"
PASSWORD = "console-e2e-" + secrets.token_hex(4)

pytestmark = [
    pytest.mark.requires_services("mysql", "redis", "chromium"),
    pytest.mark.django_db(transaction=True),
]


# WebSockets that never open, as behind a proxy that blocks them (page.route cannot).
BLOCK_WEBSOCKETS = """
window.WebSocket = class BlockedWebSocket extends EventTarget {
  static OPEN = 1;
  constructor() {
    super();
    this.readyState = 3;
    setTimeout(() => this.onclose && this.onclose({code: 1006, reason: "", wasClean: false}), 50);
  }
  send() { throw new Error("blocked"); }
  close() {}
};
"""


class HubServer:
    """The documented daphne command on a fixed port, restartable."""

    def __init__(self, log_dir: Path, env: dict[str, str]):
        self.port = free_port()
        self.log_dir = log_dir
        self.env = env
        self.process = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.starts += 1
        command = [bin_path("daphne"), "-b", "127.0.0.1", "-p", str(self.port)]
        self.process = start(
            [*command, "xiaozhi_hub.asgi:application"],
            self.env,
            self.log_dir / f"daphne-{self.starts}.log",
        )
        wait_for_port(self.port, timeout=30, process=self.process)

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
            self.process = None


@contextmanager
def running_hub(tmp_path_factory, **extra_env: str) -> Iterator[HubServer]:
    """The documented daphne on the test services; `extra_env` adds or overrides settings."""
    from django.conf import settings

    env = hub_env(
        DATABASE_URL=hub_database_url(),
        REDIS_URL=REDIS_URL,
        # The test process shares the layer prefix: its ingest broadcasts reach daphne.
        HUB_CHANNEL_PREFIX=settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
        HUB_REPORT_SECRET=REPORT_SECRET,
        ALLOWED_HOSTS="127.0.0.1",
        **extra_env,
    )
    server = HubServer(tmp_path_factory.mktemp("daphne-logs"), env)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def chromium(tmp_path_factory, **context_options):
    """A persistent Chromium context (Playwright); `context_options` such as locale."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread; the ORM
    # calls here are still plain synchronous code (the documented pytest-django +
    # Playwright set-up).
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                str(tmp_path_factory.mktemp("chromium-profile")),
                executable_path=CHROMIUM,
                args=CHROMIUM_ARGS,
                headless=True,
                **{"viewport": {"width": 1200, "height": 900}, **context_options},
            )
            try:
                yield context
            finally:
                context.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(scope="module")
def hub(django_db_setup, django_db_blocker, tmp_path_factory):
    with running_hub(tmp_path_factory, HUB_CONSOLE_TRANSPORT="auto") as server:
        yield server


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with chromium(tmp_path_factory) as context:
        yield context


# Every page reports what its Content-Security-Policy blocked (the event and the
# console line both: either alone can be missed on a navigation).
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) =>
  window.reportCspViolation(`${event.effectiveDirective} blocked ${event.blockedURI}`
    + ` at ${event.sourceFile}:${event.lineNumber}`));
"""


@pytest.fixture
def page(browser, hub, settings):
    settings.HUB_REPORT_SECRET = REPORT_SECRET
    page = browser.new_page()
    page.set_default_timeout(20_000)
    blocked = []
    page.expose_function("reportCspViolation", lambda violation: blocked.append(violation))
    page.add_init_script(REPORT_CSP_VIOLATIONS)
    page.on(
        "console",
        lambda line: "Content Security Policy" in line.text and blocked.append(line.text),
    )
    yield page
    page.close()
    browser.clear_cookies()
    assert blocked == [], "the Content-Security-Policy blocked part of a page"


@pytest.fixture(autouse=True)
def server_logs_on_failure(hub, process_log_dir):
    yield
    # conftest attaches *.log of process_log_dir to a failed test's report.
    for log in hub.log_dir.glob("*.log"):
        shutil.copy(log, process_log_dir / log.name)


def off_loop(function, *args, **kwargs):
    """Run Django code in a thread of its own: this one runs Playwright's event loop,
    where async_to_sync (used by the broadcast helper) refuses to work."""

    def run():
        try:
            return function(*args, **kwargs)
        finally:
            db_connections.close_all()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()


def staff_user() -> None:
    """A staff login the server can verify (its hashers, not the tests' fast MD5)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    hasher = PBKDF2PasswordHasher()
    get_user_model().objects.create(
        username="operator",
        password=hasher.encode(PASSWORD, hasher.salt(), iterations=1000),
        is_staff=True,
        is_superuser=True,
    )


def log_in(page, hub: HubServer, next_path: str) -> None:
    page.goto(f"{hub.url}/admin/login/?next={next_path}")
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{hub.url}{next_path}")


def wait_live(page, transport: str = "ws") -> None:
    page.wait_for_selector(
        f'#console-status[data-state="live"][data-transport="{transport}"]', timeout=30_000
    )


def message(page, text: str):
    return page.locator("#transcript .message-body", has_text=text)


def test_pages_show_live_data_and_reconnect_after_a_server_restart(page, hub):
    from endpoints.services.endpoint import endpoint_create

    off_loop(staff_user)
    off_loop(
        endpoint_create,
        name="xiaozhi.me 主接入点",
        url="wss://api.xiaozhi.me/mcp/?token=eyJhbGciOiJIUzI1NiJ9.e2e-secret.sig",
        enabled=False,
    )
    off_loop(ingest, DEVICE, "今天天气怎么样？☀️", session="sess-e2e")
    off_loop(ingest, DEVICE, "上海今天晴，25 度。", session="sess-e2e", chat_type=2)
    off_loop(
        ingest,
        DEVICE,
        '[{"type":"tool","text":"get_weather({\\"city\\": \\"上海\\"})"}]',
        chat_type=3,
    )

    log_in(page, hub, "/console/")
    wait_live(page)
    page.wait_for_selector('[data-endpoint] >> text="xiaozhi.me 主接入点"')
    page.wait_for_selector("#sync-summary .stats")

    # The pool reports a change: the card updates in place (what the pool would send).
    from endpoints.selectors.endpoint import endpoint_status_list
    from xiaozhi_hub.broadcast import HEALTH, broadcast

    (status,) = off_loop(endpoint_status_list)
    soon = datetime.now(UTC) + timedelta(days=3)
    status.update(
        enabled=True, state="connected", connected=True, healthScore=96, rttMs=42, rttP95Ms=81,
        rttHistory=[40, 45, 38, 61, 42, 55, 41, 39, 47, 42, 120, 44],
        totalRequests=120, successfulRequests=118, tokenExpiresAt=soon.isoformat(),
    )  # fmt: skip
    off_loop(broadcast, HEALTH, "endpoint_health", {"endpoint": status})
    page.wait_for_selector('.endpoint .badge[data-state="connected"]')
    page.wait_for_selector(".endpoint .sparkline polyline")
    assert "token expires" in page.text_content(".endpoint .endpoint-foot")
    assert "e2e-secret" not in page.content()  # the endpoint's token stays masked
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "dashboard.png"), full_page=True)

    page.goto(f"{hub.url}/console/devices/{DEVICE}/")
    wait_live(page)
    message(page, "今天天气怎么样？☀️").wait_for()
    assert page.locator("#transcript .role-user").count() == 1
    assert page.locator("#transcript .role-agent").count() == 1
    assert page.locator("#transcript .role-tool").count() == 1
    page.evaluate("window.notReloaded = true")

    # A message reported to the server appears without a reload.
    ingest_over_http(hub.port, DEVICE, "给我讲个笑话 😄", session="sess-e2e")
    message(page, "给我讲个笑话 😄").wait_for()
    page.screenshot(path=str(SCREENSHOTS / "transcript.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(SCREENSHOTS / "transcript-phone.png"))
    page.set_viewport_size({"width": 1200, "height": 900})

    # The server goes away; a message arrives meanwhile; the page catches up by itself.
    hub.stop()
    page.wait_for_selector('#console-status[data-state="reconnecting"]')
    off_loop(ingest, DEVICE, "服务器重启期间的消息 🔁", session="sess-e2e")
    hub.start()
    wait_live(page)
    message(page, "服务器重启期间的消息 🔁").wait_for()
    ingest_over_http(hub.port, DEVICE, "重启之后的新消息", session="sess-e2e")
    message(page, "重启之后的新消息").wait_for()
    assert page.evaluate("window.notReloaded") is True
    assert message(page, "给我讲个笑话 😄").count() == 1  # merged, not duplicated

    # The device list moves a device that talks to the top, with its last message.
    page.goto(f"{hub.url}/console/devices/?q=aa:bb")
    wait_live(page)
    ingest_over_http(hub.port, DEVICE, "设备列表实时更新", session="sess-e2e")
    first = page.locator("#device-list li").first
    first.locator(".last-message", has_text="设备列表实时更新").wait_for()
    assert first.get_attribute("data-device") == DEVICE

    # The sync page asks the hub for a sync; without a source database it says why.
    page.goto(f"{hub.url}/console/sync/")
    wait_live(page)
    page.click("#sync-form button")
    page.wait_for_selector("#sync-progress-text >> text=ESP32_DATABASE_URL is not set")


def test_sse_fallback_delivers_the_same_updates_when_websockets_are_blocked(page, hub):
    off_loop(staff_user)
    off_loop(ingest, DEVICE, "第一条", session="sess-sse")
    page.add_init_script(BLOCK_WEBSOCKETS)
    log_in(page, hub, "/console/devices/")
    page.goto(f"{hub.url}/console/devices/{DEVICE}/")  # the older MAC address: redirected
    wait_live(page, transport="sse")  # after repeated WebSocket failures
    message(page, "第一条").wait_for()
    ingest_over_http(hub.port, DEVICE, "通过 SSE 送达 📡", session="sess-sse")
    message(page, "通过 SSE 送达 📡").wait_for()
    assert "Live (SSE)" in page.text_content("#console-status")

    # Reconnect delays: exponential, jittered between half and all of it, capped.
    delays = page.evaluate(
        """import("/static/console/client.js").then(({backoffDelay}) =>
             [0, 1, 2, 3, 10].flatMap(a => [0, 1].map(r => backoffDelay(a, {random: () => r}))))"""
    )
    assert delays == [250, 500, 500, 1000, 1000, 2000, 2000, 4000, 15000, 30000]


def test_admin_pages_work_under_the_content_security_policy(page, hub):
    """The admin under the hub's CSP: no blocked script or style, no script error."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    hasher = PBKDF2PasswordHasher()
    user = off_loop(
        get_user_model().objects.create,
        username="operator",
        password=hasher.encode(PASSWORD, hasher.salt(), iterations=1000),
        is_staff=True,
        is_superuser=True,
    )
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda line: (
            line.type == "error"
            and not line.location["url"].endswith("/favicon.ico")  # the hub has none
            and errors.append(f"{line.text} ({line.location['url']})")
        ),
    )

    log_in(page, hub, "/admin/")
    assert page.locator("#logout-form").count() == 1
    assert "default-src 'self'" in page.evaluate(
        "fetch(location.href).then(r => r.headers.get('content-security-policy'))"
    )
    for path in (
        "/admin/endpoints/endpoint/",
        "/admin/endpoints/endpoint/add/",
        f"/admin/auth/user/{user.pk}/change/",
        "/admin/django_celery_beat/periodictask/add/",
        "/admin/auth/user/add/",
    ):
        page.goto(f"{hub.url}{path}")
        page.wait_for_load_state("load")
        # The admin's scripts ran: its jQuery is there, and no inline one was needed.
        assert page.evaluate("typeof django !== 'undefined' && !!django.jQuery"), path
    # django-celery-beat's crontab words, moved out of its inline script, still work.
    page.goto(f"{hub.url}/admin/django_celery_beat/periodictask/add/")
    assert page.locator(".field-crontab_translation").is_hidden()
    assert errors == []
