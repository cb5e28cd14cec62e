"""The sources' routes and the per-source fields answer as the OpenAPI schema says
(the schema closed to undocumented keys, as tests/api does)."""

from __future__ import annotations

import json

import pytest
from openapi_core import OpenAPI
from rest_framework.test import APIClient

from chathistory.models import Source
from chathistory.sync.dispatch import run_source_sync
from tests.api.conftest import Validator, closed
from tests.services import api_token

pytestmark = pytest.mark.requires_services("mysql")


@pytest.fixture
def checked(django_user_model, transactional_db):
    user = django_user_model.objects.create_user(
        "root", password="pw", is_staff=True, is_superuser=True
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token(user)}")
    schema = json.loads(client.get("/api/schema/", {"format": "json"}).content)
    return client, Validator(OpenAPI.from_dict(closed(schema)))


def test_sources_routes_match_the_schema(checked, lab):
    client, validated = checked
    lab.write(mac="aa:bb:cc:dd:ee:01", content="hello")
    run_source_sync(Source.objects.get(key="lab"), trigger="test")
    body = {"key": "site-a", "url": "mysql://u:pw@db.example/xz", "sync_interval": 60}
    assert validated(client, "POST", "/api/v2/sources", body=body).status_code == 201
    bad = {"key": "site-b", "url": "ftp://x"}
    assert validated(client, "POST", "/api/v2/sources", body=bad).status_code == 400
    assert validated(client, "GET", "/api/v2/sources").status_code == 200
    key = {"key": "site-a"}
    assert validated(client, "GET", "/api/v2/sources/{key}", key).status_code == 200
    change = {"enabled": False}
    assert validated(client, "PATCH", "/api/v2/sources/{key}", key, change).status_code == 200
    lab_key = {"key": "lab"}
    assert validated(client, "DELETE", "/api/v2/sources/{key}", lab_key).status_code == 409
    assert validated(client, "DELETE", "/api/v2/sources/{key}", key).status_code == 200
    assert validated(client, "GET", "/api/v2/sources/{key}", key).status_code == 404
    assert validated(client, "GET", "/api/v2/sync/status").status_code == 200
    status = validated(client, "GET", "/api/v2/sync/status", query="source=lab")
    assert status.json()["messages"] == 1
    devices = validated(client, "GET", "/api/v2/devices", query="source=lab")
    assert devices.json()["results"][0]["source"] == "lab"
    messages = validated(client, "GET", "/api/v2/messages", query="source=lab&q=hello")
    assert messages.json()["results"][0]["source"] == "lab"
    pk = {"id": devices.json()["results"][0]["id"]}
    assert validated(client, "GET", "/api/v2/devices/{id}/history", pk).status_code == 200
    assert validated(client, "GET", "/api/v2/devices/{id}/sessions", pk).status_code == 200
    queued = validated(client, "POST", "/api/v2/sync", body={"source": "nope"})
    assert queued.status_code == 404
