"""The transcript's audio players in a real headless Chromium against a real daphne
(docs/audio.md): a player only for a message with audio while its source has audio on,
nothing loaded until asked, the WAV played through the route (Range requests) under the
hub's Content-Security-Policy.

Needs the `audio` flag in message payloads (chathistory/events.py message_payload,
selectors.message_rows: see chathistory/audio/policy.py message_ids_with_audio)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.console import test_browser as browser_tests
from tests.console.helpers import ingest
from tests.console.test_browser import log_in, message, off_loop, staff_user, wait_live

from .test_audio import wav

browser = browser_tests.browser
hub = browser_tests.hub
page = browser_tests.page
server_logs_on_failure = browser_tests.server_logs_on_failure

pytestmark = [
    pytest.mark.requires_services("mysql", "redis", "chromium"),
    pytest.mark.django_db(transaction=True),
]

MAC = "aa:bb:cc:dd:77:01"


def seed() -> dict:
    from chathistory.audio.storage import store_audio
    from chathistory.models import ChatMessage, Device, Source

    Source.objects.update_or_create(
        key="esp32", defaults={"from_environment": True, "kind": "mysql", "audio_mode": "lazy"}
    )
    ingest(MAC, "有声音的消息", session="audio-session")
    ingest(MAC, "没有声音的消息", session="audio-session", chat_type=2)
    heard = ChatMessage.objects.get(content="有声音的消息")
    store_audio(message_id=heard.pk, data=wav(seconds=0.5), content_type="audio/wav")
    return {"device": Device.objects.get(mac=MAC).pk, "heard": heard.pk}


def audio_mode(mode: str) -> None:
    from chathistory.models import Source

    Source.objects.filter(key="esp32").update(audio_mode=mode)


def test_a_player_per_message_with_audio_and_none_when_audio_is_off(page, hub):
    off_loop(staff_user)
    rows = off_loop(seed)
    path = f"/console/devices/{rows['device']}/"
    log_in(page, hub, path)
    wait_live(page)
    expect(message(page, "没有声音的消息")).to_be_visible()
    players = page.locator("#transcript audio.message-audio")
    expect(players).to_have_count(1)
    heard = page.locator("#transcript li.message", has=page.locator("audio"))
    expect(heard.locator(".message-body")).to_have_text("有声音的消息")
    assert players.get_attribute("preload") == "none"
    assert players.get_attribute("src") == f"/api/v2/messages/{rows['heard']}/audio"

    # The browser reads it through the route: metadata, then a range, with its session.
    players.evaluate("(audio) => audio.load()")
    page.wait_for_function(
        "() => document.querySelector('#transcript audio').readyState >= 1", timeout=20_000
    )
    assert players.evaluate("(audio) => Math.round(audio.duration * 10)") == 5
    status = page.evaluate(
        """async (url) => (await fetch(url, {headers: {Range: "bytes=0-43"}})).status""",
        f"/api/v2/messages/{rows['heard']}/audio",
    )
    assert status == 206

    off_loop(audio_mode, "off")
    page.reload()
    wait_live(page)
    expect(message(page, "没有声音的消息")).to_be_visible()
    expect(page.locator("#transcript audio")).to_have_count(0)
