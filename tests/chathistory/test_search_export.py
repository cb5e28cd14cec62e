"""REST v2: session titles and first words, the search across devices (GET /api/v2/messages)
and the exports (CSV with a byte order mark and no formulas, JSONL), with hostile input."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from django.test import AsyncClient
from django.utils import timezone

from chathistory import selectors
from chathistory.export import BOM, COLUMNS
from chathistory.models import Agent, ChatMessage, ChatSession, Device
from tests.console.helpers import REPORT_SECRET, ingest

pytestmark = [pytest.mark.requires_services("mysql", "redis"), pytest.mark.django_db]

KITCHEN = "aa:bb:cc:00:20:01"
GARDEN = "aa:bb:cc:00:20:02"
FIRST = "  打开   厨房的灯  然后播放音乐"
REPLY = "好的，已经打开厨房的灯"
HOSTILE = ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\t=tab", "\r=cr"]


@pytest.fixture
def chats(settings):
    settings.HUB_REPORT_SECRET = REPORT_SECRET
    ingest(KITCHEN, FIRST, session="k-1")
    ingest(KITCHEN, REPLY, session="k-1", chat_type=2)
    ingest(KITCHEN, "今天天气怎么样", session="k-2")
    for text in HOSTILE:
        ingest(KITCHEN, text, session="k-3")
    ingest(KITCHEN, 'a "quoted", comma\nand a new line', session="k-3")
    ingest(GARDEN, "花园的天气", session="g-1", chat_type=2)  # no user message: no first words
    agent = Agent.objects.create(agent_id="agent-1", name="小智厨房")
    Device.objects.filter(mac=KITCHEN).update(alias="厨房", board="esp32-s3", agent=agent)
    ChatMessage.objects.filter(device__mac=KITCHEN).update(agent=agent)  # as the sync links them
    ChatSession.objects.filter(session_id="k-2").update(title="天气查询")
    return {
        "kitchen": Device.objects.get(mac=KITCHEN),
        "garden": Device.objects.get(mac=GARDEN),
    }


def body_of(response) -> bytes:
    assert response.streaming, "an export is streamed"
    return b"".join(response.streaming_content)


def test_sessions_carry_their_title_or_their_first_words(admin_client, chats):
    kitchen, garden = chats["kitchen"], chats["garden"]
    sessions = admin_client.get(f"/api/v2/devices/{kitchen.pk}/sessions").json()["results"]
    by_id = {s["session_id"]: s for s in sessions}
    assert by_id["k-1"]["title"] == ""
    assert by_id["k-1"]["first_words"] == "打开 厨房的灯 然后播放音乐"  # on one line
    assert by_id["k-2"]["title"] == "天气查询" and by_id["k-2"]["first_words"] == "今天天气怎么样"
    history = admin_client.get(f"/api/v2/devices/{kitchen.pk}/history").json()
    words = {s["session_id"]: s["first_words"] for s in history["sessions"]}
    assert words["k-1"].startswith("打开")
    garden_sessions = admin_client.get(f"/api/v2/devices/{garden.pk}/sessions").json()["results"]
    assert garden_sessions[0]["first_words"] is None
    # Long first messages are cut in the database.
    ingest(GARDEN, "长" * 500, session="g-2")
    garden_sessions = admin_client.get(f"/api/v2/devices/{garden.pk}/sessions").json()["results"]
    assert {s["session_id"]: s["first_words"] for s in garden_sessions}["g-2"] == "长" * 40


def test_the_device_list_finds_devices_by_agent(admin_client, chats):
    found = admin_client.get("/api/v2/devices", {"q": "小智厨房"}).json()["results"]
    assert [d["mac"] for d in found] == [KITCHEN]
    assert found[0]["agent_name"] == "小智厨房" and found[0]["alias"] == "厨房"
    assert [d["mac"] for d in admin_client.get("/api/v2/devices?q=agent-1").json()["results"]] == [
        KITCHEN
    ]


def test_search_across_devices_pages_newest_first(admin_client, chats):
    found = admin_client.get("/api/v2/messages", {"q": "天气"}).json()
    assert [m["content"] for m in found["results"]] == ["花园的天气", "今天天气怎么样"]
    assert {m["device"] for m in found["results"]} == {KITCHEN, GARDEN}
    seen, url = [], "/api/v2/messages?q=%E5%A4%A9%E6%B0%94&page_size=1"
    while url:
        page = admin_client.get(url).json()
        assert len(page["results"]) <= 1
        seen += [m["content"] for m in page["results"]]
        url = page["next"]
    assert seen == ["花园的天气", "今天天气怎么样"]
    only_agent = admin_client.get("/api/v2/messages", {"q": "天气", "role": "agent"}).json()
    assert [m["content"] for m in only_agent["results"]] == ["花园的天气"]


def test_search_across_devices_refuses_hostile_input(admin_client, chats):
    for query in ({"q": "x" * 201}, {"role": "admin"}, {"since": "yesterday"}):
        response = admin_client.get("/api/v2/messages", query)
        assert response.status_code == 400 and response["Content-Type"] == "application/json"
    response = admin_client.get("/api/v2/messages", {"cursor": "not-a-cursor"})
    assert response.status_code == 404 and response.json()["detail"]
    # SQL wildcards and markup are text: they match only themselves.
    for text in ("%", "_", "' OR 1=1 --", "<script>alert(1)</script>"):
        response = admin_client.get("/api/v2/messages", {"q": text})
        assert response.status_code == 200 and response.json()["results"] == [], text
    formula = admin_client.get("/api/v2/messages?q=%3D1").json()["results"]
    assert [m["content"] for m in formula] == ["=1+1"]


def test_device_export_csv_has_a_bom_and_no_formulas(admin_client, chats):
    kitchen = chats["kitchen"]
    response = admin_client.get(f"/api/v2/devices/{kitchen.pk}/export", {"format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response["Content-Disposition"]
    assert disposition.startswith(f'attachment; filename="chat-device-{kitchen.pk}-')
    assert disposition.endswith('.csv"') and response["Cache-Control"] == "no-store"
    raw = body_of(response)
    assert raw.startswith(BOM.encode("utf-8"))  # EF BB BF: Excel reads it as UTF-8
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8").removeprefix(BOM))))
    assert tuple(rows[0]) == COLUMNS
    contents = [row["content"] for row in rows]
    assert contents[:3] == [FIRST, REPLY, "今天天气怎么样"]
    assert contents[3:9] == ["'" + text for text in HOSTILE]  # shown as text, never run
    assert contents[9] == 'a "quoted", comma\nand a new line'
    assert {row["device_alias"] for row in rows} == {"厨房"}
    assert {row["agent_id"] for row in rows} == {"agent-1"}
    assert rows[2]["session_title"] == "天气查询" and rows[0]["role"] == "user"
    assert all(not row[name].startswith(("=", "+", "-", "@")) for row in rows for name in row)


def test_device_export_jsonl_keeps_the_text_as_written(admin_client, chats):
    kitchen = chats["kitchen"]
    response = admin_client.get(
        f"/api/v2/devices/{kitchen.pk}/export", {"format": "jsonl", "q": "厨房"}
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson; charset=utf-8"
    assert response["Content-Disposition"].endswith('.jsonl"')
    raw = body_of(response).decode("utf-8")
    assert "厨房" in raw  # not \\u escapes
    records = [json.loads(line) for line in raw.splitlines()]
    assert [r["content"] for r in records] == [FIRST, REPLY]
    assert set(records[0]) == set(COLUMNS) and records[0]["device"] == KITCHEN
    formulas = admin_client.get(f"/api/v2/devices/{kitchen.pk}/export?format=jsonl&q=%3D1")
    assert json.loads(body_of(formulas))["content"] == "=1+1"  # JSON is not a spreadsheet


def test_session_and_search_exports(admin_client, chats):
    kitchen, garden = chats["kitchen"], chats["garden"]
    session = ChatSession.objects.get(device=kitchen, session_id="k-1")
    url = f"/api/v2/devices/{kitchen.pk}/sessions/{session.pk}/export?format=jsonl"
    records = [json.loads(line) for line in body_of(admin_client.get(url)).splitlines()]
    assert [r["session_id"] for r in records] == ["k-1", "k-1"]
    # A session of another device, and unknown objects, are JSON 404s.
    garden_session = ChatSession.objects.get(device=garden)
    for path in (
        f"/api/v2/devices/{kitchen.pk}/sessions/{garden_session.pk}/export",
        f"/api/v2/devices/{kitchen.pk}/sessions/999999/export",
        "/api/v2/devices/999999/export",
    ):
        response = admin_client.get(path)
        assert response.status_code == 404 and response.json()["detail"], path
    search = admin_client.get("/api/v2/messages/export", {"q": "天气", "format": "csv"})
    assert search["Content-Disposition"].startswith('attachment; filename="chat-search-')
    rows = list(csv.DictReader(io.StringIO(body_of(search).decode("utf-8").removeprefix(BOM))))
    assert [(r["device"], r["content"]) for r in rows] == [
        (KITCHEN, "今天天气怎么样"),
        (GARDEN, "花园的天气"),
    ]
    # Without a format: CSV.
    plain = admin_client.get("/api/v2/messages/export", {"q": "花园"})
    assert plain["Content-Type"].startswith("text/csv")


@pytest.mark.parametrize(
    "query",
    [
        {"format": "xlsx"},
        {"format": "CSV"},
        {"format": "../../etc/passwd"},
        {"format": "json"},  # DRF's own format switch: not taken over
        {"format": "csv", "q": "x" * 201},
        {"format": "csv", "role": "root"},
        {"format": "csv", "until": "1' OR '1'='1"},
    ],
)
def test_exports_refuse_bad_input_with_a_json_400(admin_client, chats, query):
    kitchen = chats["kitchen"]
    session = ChatSession.objects.get(device=kitchen, session_id="k-1")
    for path in (
        "/api/v2/messages/export",
        f"/api/v2/devices/{kitchen.pk}/export",
        f"/api/v2/devices/{kitchen.pk}/sessions/{session.pk}/export",
    ):
        response = admin_client.get(path, query)
        assert response.status_code == 400, (path, query, response.status_code)
        assert response["Content-Type"] == "application/json"
        assert response.json(), path


def test_exports_need_the_chat_view_permission(client, chats, django_user_model):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("ops", password="pw", is_staff=True)
    client.force_login(user)
    path = f"/api/v2/devices/{chats['kitchen'].pk}/export"
    response = client.get(path)
    assert response.status_code == 403 and "permission" in response.json()["detail"]
    user.user_permissions.add(Permission.objects.get(codename="view_chatmessage"))
    assert client.get(path).status_code == 200


def test_batches_read_every_row_once_even_at_the_same_millisecond(chats):
    kitchen = chats["kitchen"]
    moment = timezone.now() - timedelta(days=1)
    ChatMessage.objects.filter(device=kitchen).update(created_at=moment)  # all tied
    expected = sorted(ChatMessage.objects.filter(device=kitchen).values_list("id", flat=True))
    batches = list(
        selectors.message_rows_in_batches(selectors.message_queryset(device=kitchen), batch_size=3)
    )
    assert all(len(batch) <= 3 for batch in batches) and len(batches) >= 3
    assert [row["id"] for batch in batches for row in batch] == expected


@pytest.mark.django_db(transaction=True)
async def test_under_asgi_the_export_is_streamed_asynchronously(chats, admin_user):
    """Daphne serves ASGI: a synchronous body would be read into a list before sending."""
    from asgiref.sync import sync_to_async

    client = AsyncClient()
    await sync_to_async(client.force_login)(admin_user)
    pk = chats["kitchen"].pk
    response = await client.get(f"/api/v2/devices/{pk}/export", {"format": "jsonl"})
    assert response.status_code == 200 and response.is_async
    lines = b"".join([chunk async for chunk in response.streaming_content]).splitlines()
    assert len(lines) == 10 and json.loads(lines[0])["device_alias"] == "厨房"
