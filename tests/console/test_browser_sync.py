"""The console's sync page in a real headless Chromium, against real daphne and a real
Celery worker that copies from a real source database (docs/console.md, "The sync page").

- idle, the progress bar is hidden (console.css's `.progress { display: flex }` once
  beat the `hidden` attribute);
- "Sync now" ends on the run's result even when the run's `sync:done` reaches the page
  before the request's answer (as in one-process mode, where the run is over first):
  the page's WebSocket is routed so that the answer is held back until then;
- quiet runs (no new rows) fold into one line that opens; every run shows its duration.
"""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta

import pytest
import redis

from tests.chathistory.source_schema import SourceDatabase, source_name_for
from tests.console.test_browser import (  # noqa: F401 - fixtures, used by name
    browser,
    log_in,
    off_loop,
    page,
    running_hub,
    server_logs_on_failure,
    staff_user,
    wait_live,
)
from tests.services import (
    MYSQL_URL,
    REDIS_URL,
    bin_path,
    start,
    stop,
)

pytestmark = [
    pytest.mark.requires_services("mysql", "redis", "chromium"),
    pytest.mark.django_db(transaction=True),
]

DEVICE = "aa:bb:cc:dd:ee:51"
DURATION = r"(\d+ ms|\d+\.\d s)"


@pytest.fixture(scope="module")
def source():
    database = SourceDatabase(MYSQL_URL, name=source_name_for(MYSQL_URL) + "_console")
    database.create()
    yield database
    database.drop()


def wait_for_log(path, text: str, *, process, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        if process.poll() is not None:
            raise RuntimeError(f"exited with {process.returncode}: {path.read_text()[-2000:]}")
        time.sleep(0.2)
    raise TimeoutError(f"{text!r} not in {path} within {timeout} s")


@pytest.fixture(scope="module")
def hub(django_db_setup, django_db_blocker, tmp_path_factory, source):
    """daphne and a Celery worker, as README's "Processes" runs them, with a source."""
    redis.Redis.from_url(REDIS_URL).flushdb()  # no task left queued by an earlier run
    with running_hub(
        tmp_path_factory, ESP32_DATABASE_URL=source.url, HUB_CONSOLE_TRANSPORT="auto"
    ) as server:
        log = server.log_dir / "worker.log"
        worker = start(
            [bin_path("celery"), "-A", "xiaozhi_hub", "worker", "--loglevel", "info"]
            + ["--concurrency", "1"],
            server.env,
            log,
        )
        try:
            wait_for_log(log, " ready.", process=worker)
            yield server
        finally:
            stop(worker)


def hold_answers_until_the_run_is_done(tab) -> dict:
    """Route the console's WebSocket: the answer to `sync:start` reaches the page only
    after a `sync:done` did. Returns what happened, for the assertions."""
    seen = {"held": 0, "order": []}

    def route(ws):
        server = ws.connect_to_server()
        starts: set[str] = set()
        held: list = []

        def to_server(message):
            frame = json.loads(message)
            if frame.get("type") == "sync:start":
                starts.add(frame["id"])
            server.send(message)

        def to_page(message):
            frame = json.loads(message)
            if frame.get("id") in starts and not any(k == "sync:done" for k in seen["order"]):
                seen["held"] += 1
                held.append(message)
                return
            seen["order"].append("answer" if frame.get("id") in starts else frame.get("type"))
            ws.send(message)
            if frame.get("type") == "sync:done":
                while held:
                    seen["order"].append("answer")
                    ws.send(held.pop(0))

        ws.on_message(to_server)
        server.on_message(to_page)

    tab.route_web_socket(re.compile(r"/ws/console/"), route)
    return seen


# Records whether the bar was ever on screen (a run shorter than a poll is not missed).
WATCH_THE_BAR = """
window.barShown = [];
new MutationObserver(() => {
  const bar = document.getElementById("sync-progress");
  const text = document.getElementById("sync-progress-text");
  if (bar && bar.checkVisibility()) window.barShown.push(text.dataset.phase);
}).observe(document, { subtree: true, attributes: true, childList: true });
"""


def test_idle_hides_the_bar_and_the_run_result_wins_any_order(page, hub, source):  # noqa: F811
    off_loop(staff_user)
    for n in range(3):
        source.write(mac=DEVICE, session="s-sync", content=f"同步消息 {n}")
    seen = hold_answers_until_the_run_is_done(page)
    page.add_init_script(WATCH_THE_BAR)
    log_in(page, hub, "/console/sync/")
    wait_live(page)
    page.wait_for_selector("#sync-summary .stats")
    page.wait_for_selector("#sync-runs .missing")  # no run yet

    bar = page.locator("#sync-progress")
    assert bar.is_hidden()
    assert bar.evaluate("node => getComputedStyle(node).display") == "none"
    assert page.evaluate("window.barShown") == []

    page.click("#sync-form button")
    page.wait_for_selector("#sync-form button:not([disabled])")  # the answer arrived
    text = page.locator("#sync-progress-text")
    assert seen["held"] == 1, seen
    assert seen["order"].index("sync:done") < seen["order"].index("answer"), seen
    assert text.get_attribute("data-phase") == "done"
    assert re.fullmatch(rf"Run \d+ success: 3 read, 3 written in {DURATION}", text.inner_text())
    assert "Queued" not in text.inner_text()
    assert bar.is_hidden()
    assert "starting" in page.evaluate("window.barShown")  # it showed while the run went

    # The run's row, with its duration, once the refreshed snapshot is in.
    run_id = text.get_attribute("data-run")
    row = page.locator(f'#sync-runs tr[data-run="{run_id}"]')
    row.wait_for()
    assert re.fullmatch(DURATION, row.locator("td.duration").inner_text())

    # A second run finds nothing new: the page follows that run, not the first one.
    page.click("#sync-form button")
    page.wait_for_selector("#sync-form button:not([disabled])")
    page.wait_for_function(  # a function, not a string: the page's CSP forbids eval
        "(first) => Number(document.getElementById('sync-progress-text').dataset.run) > first",
        arg=int(run_id),
    )
    assert re.fullmatch(rf"Run \d+ success: 0 read, 0 written in {DURATION}", text.inner_text())
    assert bar.is_hidden()


def quiet_runs() -> list[int]:
    """What the 30-second tick leaves: one run that copied rows, then a streak of quiet ones."""
    from chathistory.models import RunStatus, SyncRun

    start_at = datetime.now(UTC) - timedelta(minutes=10)
    specs = [(RunStatus.SUCCESS, 4)] + [(RunStatus.SUCCESS, 0)] * 6
    ids = []
    for n, (status, written) in enumerate(specs):
        run = SyncRun.objects.create(status=status, rows_read=written, rows_written=written)
        started = start_at + timedelta(seconds=30 * n)
        SyncRun.objects.filter(pk=run.pk).update(
            started_at=started, finished_at=started + timedelta(milliseconds=1500)
        )
        ids.append(run.pk)
    return ids


def test_quiet_runs_fold_into_one_line_that_opens(page, hub):  # noqa: F811
    off_loop(staff_user)
    ids = off_loop(quiet_runs)
    log_in(page, hub, "/console/sync/")
    wait_live(page)
    folded = page.locator("#sync-runs tr.folded")
    folded.wait_for()
    assert page.locator("#sync-runs tbody > tr").count() == 2  # the streak, the copying run
    summary = folded.locator("summary")
    assert re.fullmatch(r"6 runs with no new rows, from .+ to .+", summary.inner_text())
    assert "T" not in summary.inner_text()  # formatted times, no ISO strings
    assert folded.locator(".folded-runs li").first.is_hidden()

    summary.click()
    items = folded.locator(".folded-runs li")
    assert items.count() == 6
    assert items.first.inner_text().startswith(f"Run {ids[-1]} · ")
    assert " · 1.5 s · " in items.first.inner_text()
    copying = page.locator(f'#sync-runs tr[data-run="{ids[0]}"]')
    assert copying.locator("td.duration").inner_text() == "1.5 s"
    assert copying.locator("td").nth(5).inner_text() == "4"

    # On a phone each run is a block of labelled values: nothing scrolls sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    wrap = page.locator("#sync-runs .table-wrap")
    assert wrap.evaluate("node => node.scrollWidth <= node.clientWidth")
    assert (
        copying.locator("td.duration").evaluate(
            "node => getComputedStyle(node, '::before').content"
        )
        == '"Duration "'
    )
    page.set_viewport_size({"width": 1200, "height": 900})

    # A new snapshot (a run ended) keeps the streak open.
    from chathistory.events import send_done

    page.evaluate("document.querySelector('#sync-runs table').dataset.before = 'yes'")

    off_loop(
        send_done,
        {"source": "esp32", "run_id": None, "status": "skipped", "rows_read": 0,
         "rows_written": 0, "error": "", "duration_ms": 0},
    )  # fmt: skip
    page.wait_for_selector("#sync-runs table:not([data-before])")
    assert page.locator("#sync-runs tr.folded details[open]").count() == 1
