"""REST: GET /api/alerts, POST /api/alerts/<id>/acknowledge and /silence — filters,
bounds (bad input is a 400 and changes nothing), permissions, the audit log."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.admin.models import LogEntry
from django.utils import timezone
from rest_framework.test import APIClient

from tests.access.identities import make_user
from xiaozhi_hub.alerts import kinds
from xiaozhi_hub.alerts.models import Alert, AlertRule

pytestmark = pytest.mark.django_db


def client_for(identity: str) -> APIClient:
    client = APIClient()
    client.force_login(make_user(identity))
    return client


@pytest.fixture
def alerts():
    rule = AlertRule.objects.get(kind=kinds.ENDPOINT_DOWN)  # a default rule (the migration's)
    now = timezone.now()
    firing = Alert.objects.create(
        rule=rule, subject="endpoint:1", subject_label="one", started_at=now, message="down"
    )
    resolved = Alert.objects.create(
        rule=rule,
        subject="endpoint:2",
        subject_label="two",
        state="resolved",
        started_at=now - timedelta(hours=1),
        fired_at=now - timedelta(hours=1),
        resolved_at=now,
        closed_at=now,
    )
    return firing, resolved


def test_the_list_filters_by_state_and_refuses_unknown_values(alerts):
    firing, resolved = alerts
    client = client_for("viewer")
    everything = client.get("/api/alerts").json()["results"]
    assert [a["id"] for a in everything] == [firing.pk, resolved.pk]
    only = client.get("/api/alerts?state=firing").json()["results"]
    assert [(a["id"], a["state"], a["rule_name"]) for a in only] == [
        (firing.pk, "firing", "Endpoint not connected")
    ]
    assert client.get("/api/alerts?state=resolved").json()["results"][0]["id"] == resolved.pk
    bad = client.get("/api/alerts?state=burning")
    assert bad.status_code == 400 and "firing, resolved" in bad.json()["state"][0]


def test_the_list_pages_with_cursors_newest_first_and_refuses_forged_cursors(alerts):
    firing, resolved = alerts
    client = client_for("viewer")
    first = client.get("/api/alerts?page_size=1").json()
    assert [a["id"] for a in first["results"]] == [firing.pk] and first["previous"] is None
    second = client.get(first["next"]).json()
    assert [a["id"] for a in second["results"]] == [resolved.pk] and second["next"] is None
    assert client.get("/api/alerts?cursor=not-a-cursor").status_code == 404
    assert client.get("/api/alerts?page_size=x").status_code == 200  # DRF: the default size


def test_acknowledge_records_who_and_is_audited(alerts):
    firing, resolved = alerts
    client = client_for("operator")
    response = client.post(f"/api/alerts/{firing.pk}/acknowledge")
    assert response.status_code == 200
    assert response.json()["alert"]["acknowledged_by"] == "operator"
    firing.refresh_from_db()
    assert firing.acknowledged_by.username == "operator" and firing.acknowledged_at is not None
    entry = LogEntry.objects.get(object_id=str(firing.pk), content_type__app_label="alerts")
    assert entry.change_message == "Acknowledged via the REST API."

    over = client.post(f"/api/alerts/{resolved.pk}/acknowledge")
    assert over.status_code == 400 and "is over" in over.json()["detail"]
    resolved.refresh_from_db()
    assert resolved.acknowledged_at is None
    assert client.post("/api/alerts/999999/acknowledge").status_code == 404


@pytest.mark.parametrize("body", [{}, {"minutes": -1}, {"minutes": 10081}, {"minutes": "x"}])
def test_a_silence_out_of_bounds_is_refused_and_changes_nothing(alerts, body):
    firing, _ = alerts
    response = client_for("operator").post(f"/api/alerts/{firing.pk}/silence", body, format="json")
    assert response.status_code == 400 and "minutes" in response.json()
    firing.refresh_from_db()
    assert firing.silenced_until is None
    assert not LogEntry.objects.filter(content_type__app_label="alerts").exists()


def test_silence_for_minutes_and_lift_it(alerts):
    firing, _ = alerts
    client = client_for("operator")
    before = timezone.now()
    response = client.post(f"/api/alerts/{firing.pk}/silence", {"minutes": 90}, format="json")
    assert response.status_code == 200 and response.json()["alert"]["silenced"] is True
    firing.refresh_from_db()
    assert timedelta(minutes=89) < firing.silenced_until - before < timedelta(minutes=91)
    lifted = client.post(f"/api/alerts/{firing.pk}/silence", {"minutes": 0}, format="json")
    assert lifted.json()["alert"]["silenced_until"] is None
    messages = list(
        LogEntry.objects.filter(object_id=str(firing.pk)).values_list("change_message", flat=True)
    )
    assert sorted(messages) == [
        "Silence lifted via the REST API.",
        "Silenced for 90 min via the REST API.",
    ]


def test_viewers_read_and_operators_act(alerts):
    firing, _ = alerts
    viewer = client_for("viewer")
    refused = viewer.post(f"/api/alerts/{firing.pk}/acknowledge")
    assert refused.status_code == 403
    assert "alerts.change_alert (Hub operators have it)" in refused.json()["detail"]
    assert client_for("staff").get("/api/alerts").status_code == 403
