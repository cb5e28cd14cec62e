"""Helpers for the console tests: writing chat messages through the real ingest path."""

from __future__ import annotations

import json
import time
import urllib.request

REPORT_PATH = "/xiaozhi/agent/chat-history/report"
REPORT_SECRET = "console-test-report-secret"


def report_body(mac: str, content: str, *, session: str = "s-1", chat_type: int = 1) -> dict:
    """A report as xiaozhi-esp32-server's core sends it (docs/protocols.md)."""
    return {
        "macAddress": mac,
        "sessionId": session,
        "chatType": chat_type,
        "content": content,
        "reportTime": int(time.time() * 1000),
    }


def ingest(mac: str, content: str, **kwargs) -> None:
    """Report one message in this process (Django test client, same DB and channel layer)."""
    from django.test import Client

    response = Client().post(
        REPORT_PATH,
        json.dumps(report_body(mac, content, **kwargs)),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {REPORT_SECRET}",
    )
    assert response.status_code == 200, response.content


def ingest_over_http(port: int, mac: str, content: str, **kwargs) -> None:
    """Report one message to a hub server process, as the esp32 server would."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{REPORT_PATH}",
        data=json.dumps(report_body(mac, content, **kwargs)).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {REPORT_SECRET}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
