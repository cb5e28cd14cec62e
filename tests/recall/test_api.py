"""REST: /api/recall/access — list, get, create/change (PUT, PATCH), delete; bounds and
hostile bodies are a 400 that changes nothing; permissions; the audit log; the
admin's page."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client
from rest_framework.test import APIClient

from chathistory.models import Agent
from endpoints.models import Endpoint
from tests.access.identities import make_user, user_with
from xiaozhi_hub.recall.models import HistoryAccess

pytestmark = pytest.mark.django_db

ALL = (
    "recall.view_historyaccess",
    "recall.add_historyaccess",
    "recall.change_historyaccess",
    "recall.delete_historyaccess",
)


def client_of(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def rows():
    endpoint = Endpoint.objects.create(name="desk", url="wss://api.xiaozhi.me/mcp/?token=abc")
    kitchen = Agent.objects.create(source="esp32", agent_id="a1", name="kitchen")
    lab = Agent.objects.create(source="lab", agent_id="a1", name="lab")
    return endpoint, kitchen, lab


def test_link_change_list_and_remove(rows):
    endpoint, kitchen, lab = rows
    api = client_of(make_user("superuser"))
    url = f"/api/recall/access/{endpoint.pk}"
    assert api.get(url).status_code == 404
    created = api.put(url, {"agent": kitchen.pk}, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["agent"] == {
        "id": kitchen.pk,
        "source": "esp32",
        "agent_id": "a1",
        "name": "kitchen",
    }
    assert (body["enabled"], body["max_rows"], body["max_chars"], body["days"]) == (
        True,
        10,
        4000,
        0,
    )
    changed = api.patch(url, {"agent": lab.pk, "enabled": False, "days": 7}, format="json")
    assert changed.status_code == 200, changed.json()
    assert changed.json()["agent"]["source"] == "lab" and changed.json()["enabled"] is False
    listed = api.get("/api/recall/access").json()
    assert [row["endpoint_id"] for row in listed["results"]] == [endpoint.pk]
    messages = list(LogEntry.objects.order_by("id").values_list("change_message", flat=True))
    assert messages[0].startswith("Added via the REST API")
    assert "enabled true → false" in messages[1]
    assert api.delete(url).status_code == 204
    assert not HistoryAccess.objects.exists()
    assert api.delete(url).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {},  # a new link needs an agent
        {"agent": 999999},
        {"agent": "1 OR 1=1"},
        {"agent": None},
        {"agent": 1, "max_rows": 0},
        {"agent": 1, "max_rows": 21},
        {"agent": 1, "max_chars": 499},
        {"agent": 1, "max_chars": 10**9},
        {"agent": 1, "days": -1},
        {"agent": 1, "enabled": "maybe"},
        {"agent": 1, "endpoint": 5},
        {"agent": 1, "<script>": 1},
        [1, 2],
        "agent",
    ],
)
def test_hostile_bodies_are_refused_and_change_nothing(rows, body):
    endpoint, kitchen, _lab = rows
    if isinstance(body, dict) and body.get("agent") == 1:
        body = {**body, "agent": kitchen.pk}
    api = client_of(make_user("superuser"))
    answer = api.put(f"/api/recall/access/{endpoint.pk}", body, format="json")
    assert answer.status_code == 400, answer.content
    assert not HistoryAccess.objects.exists()
    assert not LogEntry.objects.exists()


def test_unknown_endpoint_and_huge_ids(rows):
    api = client_of(make_user("superuser"))
    assert (
        api.put("/api/recall/access/424242", {"agent": rows[1].pk}, format="json").status_code
        == 404
    )
    assert api.get("/api/recall/access/" + "9" * 40).status_code in (404,)
    assert api.get("/api/recall/access/-1").status_code == 404  # not a route: the JSON 404


def test_permissions_are_checked_per_method(rows):
    endpoint, kitchen, _lab = rows
    url = f"/api/recall/access/{endpoint.pk}"
    assert APIClient().get("/api/recall/access").status_code == 401
    viewer = client_of(user_with("recall.view_historyaccess", username="viewer"))
    assert viewer.get("/api/recall/access").status_code == 200
    refused = viewer.put(url, {"agent": kitchen.pk}, format="json")
    assert refused.status_code == 403
    assert "recall.add_historyaccess" in refused.json()["detail"]
    assert not HistoryAccess.objects.exists()
    changer = client_of(user_with("recall.change_historyaccess", username="changer"))
    assert changer.put(url, {"agent": kitchen.pk}, format="json").status_code == 403
    admin = client_of(user_with(*ALL, username="admin"))
    assert admin.put(url, {"agent": kitchen.pk}, format="json").status_code == 201
    assert changer.patch(url, {"enabled": False}, format="json").status_code == 200
    assert changer.delete(url).status_code == 403
    assert HistoryAccess.objects.get().enabled is False


def test_the_admin_links_an_endpoint_to_an_agent(rows):
    endpoint, kitchen, _lab = rows
    browser = Client()
    browser.force_login(make_user("superuser"))
    page = browser.get("/admin/recall/historyaccess/add/")
    assert page.status_code == 200
    assert "esp32: kitchen (a1)" in page.content.decode()  # agents named with their source
    saved = browser.post(
        "/admin/recall/historyaccess/add/",
        {
            "endpoint": endpoint.pk,
            "agent": kitchen.pk,
            "enabled": "on",
            "max_rows": 10,
            "max_chars": 4000,
            "days": 0,
        },
    )
    assert saved.status_code == 302, saved.content.decode()[:2000]
    assert HistoryAccess.objects.get().agent == kitchen
    assert browser.get("/admin/recall/historyaccess/").status_code == 200
