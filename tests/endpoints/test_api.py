"""REST API: auth matrix, shapes, masked URLs, bad input, options; no pool running here."""

import json

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from endpoints.models import Endpoint, PoolOptions
from tests.endpoints.conftest import SECRET_MARK, secret_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def endpoint():
    return Endpoint.objects.create(name="a", url=secret_url(tag="a"))


ROUTES = [
    ("get", "/api/status"),
    ("get", "/api/endpoints"),
    ("post", "/api/endpoints"),
    ("get", "/api/endpoints/{id}"),
    ("patch", "/api/endpoints/{id}"),
    ("delete", "/api/endpoints/{id}"),
    ("post", "/api/endpoints/{id}/reconnect"),
    ("post", "/api/endpoints/{id}/check"),
    ("post", "/api/endpoints/check"),
    ("post", "/api/endpoints/probe"),
    ("get", "/api/pool/options"),
    ("put", "/api/pool/options"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_anonymous_and_non_staff_users_are_refused(endpoint, method, path):
    url = path.format(id=endpoint.pk)
    anonymous = getattr(APIClient(), method)(url)
    assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"] == "Token"
    user = get_user_model().objects.create_user("plain", password="pw")
    client = APIClient()
    client.force_login(user)
    assert getattr(client, method)(url).status_code == 403
    assert Endpoint.objects.filter(pk=endpoint.pk).exists()


def test_staff_session_and_api_token_both_work(staff_client, token_client, endpoint):
    assert staff_client.get("/api/status").status_code == 200
    assert token_client.get("/api/endpoints").status_code == 200


def test_create_read_update_delete_with_masked_urls_everywhere(staff_client):
    url = secret_url(tag="new")
    response = staff_client.post(
        "/api/endpoints",
        {"name": "relay", "url": url, "options": {"healthCheckInterval": 15000, "jitter": False}},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["url"] == "ws://127.0.0.1:8004/mcp/?token=***"
    assert body["options"] == {"healthCheckInterval": 15000, "jitter": False}
    assert body["tokenExpiry"].startswith("expires in")
    assert body["status"]["state"] == "connecting" and body["status"]["connected"] is False
    endpoint = Endpoint.objects.get(pk=body["id"])
    assert endpoint.url == url and endpoint.health_check_interval == 15.0

    listing = staff_client.get("/api/endpoints").json()
    assert [e["name"] for e in listing["results"]] == ["relay"]
    assert listing["results"][0]["url"] == "ws://127.0.0.1:8004/mcp/?token=***"
    # PATCH: only what is sent; null clears an override.
    response = staff_client.patch(
        f"/api/endpoints/{endpoint.pk}",
        {"enabled": False, "options": {"jitter": None, "reconnectStrategy": "adaptive"}},
        format="json",
    )
    assert response.status_code == 200, response.json()
    endpoint.refresh_from_db()
    assert (endpoint.enabled, endpoint.jitter, endpoint.reconnect_strategy) == (
        False,
        None,
        "adaptive",
    )
    assert response.json()["status"]["state"] == "disabled"
    # PUT with the masked URL it read back keeps the real URL; omitted options reset.
    full = staff_client.get(f"/api/endpoints/{endpoint.pk}").json()
    response = staff_client.put(
        f"/api/endpoints/{endpoint.pk}", {"name": "relay2", "url": full["url"]}, format="json"
    )
    assert response.status_code == 200, response.json()
    endpoint.refresh_from_db()
    assert endpoint.url == url and endpoint.name == "relay2" and endpoint.enabled
    assert endpoint.overrides() == {}

    everything = json.dumps(
        [
            staff_client.get("/api/endpoints").json(),
            staff_client.get(f"/api/endpoints/{endpoint.pk}").json(),
            staff_client.get("/api/status").json(),
        ]
    )
    assert SECRET_MARK not in everything

    assert staff_client.delete(f"/api/endpoints/{endpoint.pk}").status_code == 204
    assert not Endpoint.objects.exists()
    assert staff_client.get(f"/api/endpoints/{endpoint.pk}").status_code == 404


@pytest.mark.parametrize(
    ("body", "key", "fragment"),
    [
        ({"name": "x", "url": f"http://h/?token={SECRET_MARK}"}, "url", "not a ws:// or wss://"),
        ({"name": "x"}, "url", "required"),
        ({"name": "x", "url": secret_url(), "options": {"healthCheckInterval": 5}}, "options",
         "milliseconds"),
        ({"name": "x", "url": secret_url(), "options": {"bogus": 1}}, "options", "unknown"),
        ({"name": "x", "url": secret_url(),
          "options": {"reconnectInterval": 10000, "maxReconnectDelay": 5000}},
         "options.maxReconnectDelay", "at least"),
        ({"name": "taken", "url": secret_url()}, "name", "already exists"),
    ],
)  # fmt: skip
def test_bad_input_gets_a_clear_400_that_names_the_field(staff_client, body, key, fragment):
    Endpoint.objects.create(name="taken", url=secret_url(tag="t"))
    response = staff_client.post("/api/endpoints", body, format="json")
    assert response.status_code == 400
    errors = response.json()
    assert key in errors and fragment in json.dumps(errors[key]), errors
    assert SECRET_MARK not in json.dumps(errors)
    assert Endpoint.objects.count() == 1


def test_pool_options_read_and_change_in_milliseconds(staff_client):
    assert staff_client.get("/api/pool/options").json()["healthCheckInterval"] == 30000
    response = staff_client.put(
        "/api/pool/options",
        {"loadBalanceStrategy": "health-based", "reconnectInterval": 2000},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["loadBalanceStrategy"] == "health-based"
    options = PoolOptions.load()
    assert (options.load_balance_strategy, options.reconnect_interval) == ("health-based", 2.0)

    bad = staff_client.patch("/api/pool/options", {"loadBalanceStrategy": "best"}, format="json")
    assert bad.status_code == 400 and "loadBalanceStrategy" in bad.json()
    bad = staff_client.put("/api/pool/options", {"maxReconnectDelay": 1000}, format="json")
    assert bad.status_code == 400 and "maxReconnectDelay" in bad.json()
    assert PoolOptions.load().max_reconnect_delay == 30.0


def test_control_without_a_running_pool_says_so(staff_client, endpoint):
    # No worker subscribes in this test process: the answer is a clear 503.
    response = staff_client.post(f"/api/endpoints/{endpoint.pk}/check")
    assert response.status_code == 503
    assert "is running" in response.json()["error"] or "not running" in response.json()["error"]
    assert staff_client.post("/api/endpoints/probe", {}, format="json").status_code == 503
    bad = staff_client.post("/api/endpoints/probe", {"method": "tools/call"}, format="json")
    assert bad.status_code == 400
    # Nothing redials it: the answer says so instead of "requested".
    refused = staff_client.post(f"/api/endpoints/{endpoint.pk}/reconnect")
    assert refused.status_code == 503
    assert refused.json()["done"] is False and refused.json()["reason"] == "no_pool"
    assert "is running" in refused.json()["error"] or "not running" in refused.json()["error"]
    assert staff_client.post("/api/endpoints/999999/reconnect").status_code == 404
