"""REST API v2: shapes, pagination, filters, search, 404s and auth."""

import pytest

from chathistory.sync import run_sync
from tests.services import api_token

pytestmark = pytest.mark.requires_services("mysql")
MAC = "aa:bb:cc:dd:ee:01"


@pytest.fixture
def history(esp32):
    for i in range(30):
        esp32.write(
            session="s1" if i < 20 else "s2",
            chat_type=1 + i % 2,
            content=f"message {i} {'weather' if i % 10 == 0 else ''}",
            created_at=f"2025-01-02 03:{i:02d}:00.123",
        )
    esp32.write(mac="aa:bb:cc:dd:ee:02", session="other", content="elsewhere")
    assert run_sync(trigger="test").status == "success"
    return esp32


def test_anonymous_is_rejected_and_a_token_works(client, history, django_user_model):
    for url in ("/api/v2/devices", f"/api/v2/chat-history/{MAC}", "/api/v2/sync/status"):
        response = client.get(url)
        assert response.status_code == 401 and response["WWW-Authenticate"] == "Token"
    user = django_user_model.objects.create_user("ops", is_staff=True, is_superuser=True)
    response = client.get("/api/v2/devices", HTTP_AUTHORIZATION=f"Token {api_token(user)}")
    assert response.status_code == 200
    assert [d["mac"] for d in response.json()["results"]] == [MAC, "aa:bb:cc:dd:ee:02"]


def test_device_history_pages_through_everything_once(staff_client, history):
    url, seen = f"/api/v2/chat-history/{MAC}?page_size=7", []
    body = None
    while url:
        body = staff_client.get(url).json()
        seen += [m["content"] for s in body["sessions"] for m in s["messages"]]
        url = body["next"]
    assert seen == [f"message {i} {'weather' if i % 10 == 0 else ''}" for i in range(29, -1, -1)]
    assert body["device"]["mac"] == MAC and body["device"]["message_count"] == 30
    stats = body["statistics"]
    assert stats["messages"] == 30 and stats["by_role"] == {"user": 15, "agent": 15, "tool": 0}
    assert stats["sessions"] == 2 and stats["first_message_at"].startswith(
        "2025-01-02T03:00:00.123"
    )
    assert body["last_updated"]


def test_filters_and_search(staff_client, history):
    def contents(query):
        body = staff_client.get(f"/api/v2/chat-history/{MAC}?{query}").json()
        return [m["content"].strip() for s in body["sessions"] for m in s["messages"]]

    assert contents("q=weather") == [
        "message 20 weather",
        "message 10 weather",
        "message 0 weather",
    ]
    assert len(contents("role=agent")) == 15
    assert len(contents("session=s2")) == 10
    assert contents("since=2025-01-02T03:27:00Z&until=2025-01-02T03:29:00Z") == [
        "message 28",
        "message 27",
    ]
    bad = staff_client.get(f"/api/v2/chat-history/{MAC}?role=robot")
    assert bad.status_code == 400 and "role" in bad.json()


def test_sessions_and_session_messages(staff_client, history):
    sessions = staff_client.get(f"/api/v2/sessions/{MAC}").json()["results"]
    assert {(s["session_id"], s["message_count"]) for s in sessions} == {("s1", 20), ("s2", 10)}
    messages = staff_client.get("/api/v2/sessions/s2/messages?page_size=100").json()["results"]
    assert [m["content"].strip() for m in messages] == [
        f"message {i}" + (" weather" if i == 20 else "") for i in range(29, 19, -1)
    ]
    assert set(messages[0]) >= {"id", "source_id", "device", "session_id", "role", "created_at"}


def test_unknown_device_and_session_are_clear_404s(staff_client, history):
    for url in ("/api/v2/chat-history/ff:ff:ff:ff:ff:ff", "/api/v2/sessions/ff:ff:ff:ff:ff:ff"):
        response = staff_client.get(url)
        assert response.status_code == 404
        assert "unknown device 'ff:ff:ff:ff:ff:ff'" in response.json()["detail"]
    assert staff_client.get("/api/v2/sessions/nope/messages").status_code == 404


def test_sync_status_and_request(staff_client, history, settings):
    status = staff_client.get("/api/v2/sync/status").json()
    assert status["status"] == "success" and status["cursor"] == 31
    assert (status["devices"], status["sessions"], status["messages"]) == (2, 3, 31)
    assert status["lag_seconds"] is not None and status["last_error"] == ""
    response = staff_client.post("/api/v2/sync", {"full": True}, content_type="application/json")
    assert response.status_code == 202 and response.json()["queued"] is True


def test_statistics_follow_new_messages(staff_client, history):
    url = f"/api/v2/chat-history/{MAC}"
    assert staff_client.get(url).json()["statistics"]["by_role"]["tool"] == 0
    assert staff_client.get(url).json()["statistics"]["messages"] == 30  # served again
    history.write(
        session="s3",
        chat_type=3,
        content='[{"type":"tool","text":"x()"}]',
        created_at="2025-01-02 04:00:00.000",
    )
    assert run_sync(trigger="test").status == "success"
    stats = staff_client.get(url).json()["statistics"]
    assert stats["messages"] == 31 and stats["by_role"]["tool"] == 1 and stats["sessions"] == 3
    assert stats["last_message_at"].startswith("2025-01-02T04:00:00.000")


def test_history_page_queries_do_not_grow_with_the_page(staff_client, history):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = {}
    for size in (2, 30):
        url = f"/api/v2/chat-history/{MAC}?page_size={size}"
        staff_client.get(url)
        with CaptureQueriesContext(connection) as queries:
            body = staff_client.get(url).json()
        assert sum(len(s["messages"]) for s in body["sessions"]) == size
        counts[size] = len(queries)
    # Session + user, the device, the page, the first words of the page's sessions (one
    # query for all): sessions come with the rows, statistics from the cache under the
    # device's counters.
    assert counts == {2: 5, 30: 5}
