"""The lists that grow page like v2: `{"next", "previous", "results"}`, cursors that
visit every row once in a stable order, `page_size` up to a ceiling, 50 by default."""

from __future__ import annotations

import pytest

from endpoints.models import Endpoint, McpServer, Tool, ToolCall

pytestmark = pytest.mark.requires_services("mysql", "redis")


def every_page(api, url: str) -> tuple[list[dict], int]:
    rows, pages = [], 0
    while url:
        response = api.get(url)
        assert response.status_code == 200, response.content[:300]
        body = response.json()
        assert set(body) == {"next", "previous", "results"}
        rows += body["results"]
        pages += 1
        url = body["next"]
    return rows, pages


@pytest.fixture
def rows(db):
    endpoints = Endpoint.objects.bulk_create(
        [Endpoint(name=f"e{i}", url=f"wss://example.org/mcp/?token=t{i}") for i in range(5)]
    )
    servers = [
        McpServer.objects.create(name=name, transport="sse", url=f"https://{name}.example/sse")
        for name in ("delta", "alpha", "charlie", "bravo")
    ]
    Tool.objects.bulk_create(
        [
            Tool(server=servers[i % 4], upstream_name=f"t{i:02d}", exposed_name=f"x__t{i:02d}")
            for i in range(53)
        ]
    )
    calls = ToolCall.objects.bulk_create(
        [ToolCall(tool="x__t00", outcome="ok", duration_ms=i) for i in range(7)]
    )
    return {"endpoints": endpoints, "calls": calls}


def test_endpoints_servers_tools_and_calls_page_through_everything_once(api, rows):
    endpoints, pages = every_page(api, "/api/endpoints?page_size=2")
    assert [e["name"] for e in endpoints] == [f"e{i}" for i in range(5)] and pages == 3
    assert all(e["url"].endswith("token=***") for e in endpoints)  # masked on every page
    servers, pages = every_page(api, "/api/mcp-servers?page_size=3")
    assert [s["name"] for s in servers] == ["alpha", "bravo", "charlie", "delta"]
    tools, pages = every_page(api, "/api/tools?page_size=20")
    assert [t["name"] for t in tools] == [f"x__t{i:02d}" for i in range(53)] and pages == 3
    calls, _ = every_page(api, "/api/tools/calls?page_size=3")
    newest_first = [c.pk for c in reversed(rows["calls"])]
    assert [c["id"] for c in calls] == newest_first


def test_lists_are_bounded_by_default_and_by_a_ceiling(api, rows):
    first = api.get("/api/tools").json()
    assert len(first["results"]) == 50 and first["next"] and first["previous"] is None
    assert len(api.get("/api/tools?page_size=100000").json()["results"]) == 53  # under 500
    back = api.get(api.get(first["next"]).json()["previous"]).json()
    assert [t["id"] for t in back["results"]] == [t["id"] for t in first["results"]]


def test_following_the_call_log_from_an_id_reads_oldest_first(api, rows):
    ids = [c.pk for c in rows["calls"]]
    body = api.get(f"/api/tools/calls?after={ids[2]}&page_size=2").json()
    assert [c["id"] for c in body["results"]] == ids[3:5]
    assert [c["id"] for c in api.get(body["next"]).json()["results"]] == ids[5:7]


def test_a_cursor_that_is_not_ours_is_a_404(api, rows):
    response = api.get("/api/endpoints?cursor=not-a-cursor")
    assert response.status_code == 404 and response.json() == {"detail": "Invalid cursor"}
