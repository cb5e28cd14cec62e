"""Admin: list columns, the write-only URL field, actions, global options; no token in HTML."""

import pytest

from endpoints.lease import lease_round
from endpoints.models import Endpoint, PoolOptions
from endpoints.pool.status import EndpointStatus
from endpoints.services.endpoint_status import endpoint_status_store
from tests.endpoints.conftest import SECRET_MARK, secret_url

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/endpoints/endpoint/"


@pytest.fixture
def endpoint():
    return Endpoint.objects.create(name="relay", url=secret_url(tag="adm"))


def test_changelist_shows_state_score_rtt_masked_url_and_token_expiry(admin_client, endpoint):
    lease_round(owner="w1:1:a", ttl=30)
    status = EndpointStatus(endpoint_id=endpoint.pk, name="relay", url=endpoint.url)
    status.state, status.connected, status.health_score, status.rtt_ms = "connected", True, 97, 4.2
    endpoint_status_store(worker="w1:1:a", changes=[(status, "connecting")], latest=[])

    html = admin_client.get(CHANGELIST).content.decode()
    assert "Connected" in html and "97" in html and "4.2 ms" in html
    assert "ws://127.0.0.1:8004/mcp/?token=***" in html
    assert "expires in less than a day" in html
    assert SECRET_MARK not in html

    page = admin_client.get(f"{CHANGELIST}{endpoint.pk}/change/").content.decode()
    assert SECRET_MARK not in page
    assert 'type="password"' in page and "connecting" in page  # health history
    assert (
        SECRET_MARK not in admin_client.get(f"{CHANGELIST}{endpoint.pk}/history/").content.decode()
    )
    assert (
        SECRET_MARK not in admin_client.get(f"{CHANGELIST}{endpoint.pk}/delete/").content.decode()
    )


def test_the_url_field_keeps_the_stored_url_when_left_blank(admin_client, endpoint):
    url = endpoint.url
    response = admin_client.post(
        f"{CHANGELIST}{endpoint.pk}/change/",
        {"name": "renamed", "url": "", "enabled": "on", "health_check_interval": "12"},
    )
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.name, endpoint.url, endpoint.health_check_interval) == ("renamed", url, 12.0)


def test_a_bad_url_is_refused_with_a_masked_error(admin_client):
    response = admin_client.post(
        f"{CHANGELIST}add/", {"name": "x", "url": f"https://h/?token={SECRET_MARK}"}
    )
    html = response.content.decode()
    assert response.status_code == 200 and "not a ws:// or wss:// URL" in html
    assert SECRET_MARK not in html
    assert not Endpoint.objects.exists()
    assert (
        "This field is required"
        in admin_client.post(f"{CHANGELIST}add/", {"name": "x", "url": ""}).content.decode()
    )


def test_enable_disable_and_control_actions(admin_client, endpoint):
    admin_client.post(CHANGELIST, {"action": "disable", "_selected_action": [endpoint.pk]})
    endpoint.refresh_from_db()
    assert not endpoint.enabled
    admin_client.post(CHANGELIST, {"action": "enable", "_selected_action": [endpoint.pk]})
    endpoint.refresh_from_db()
    assert endpoint.enabled

    response = admin_client.post(
        CHANGELIST, {"action": "reconnect_now", "_selected_action": [endpoint.pk]}, follow=True
    )
    # No pool runs in this process: the reconnect says so instead of claiming it was sent.
    assert "was not reconnected" in response.content.decode()
    # No pool runs in this process: the check says so instead of hanging or failing.
    response = admin_client.post(
        CHANGELIST, {"action": "check_health_now", "_selected_action": [endpoint.pk]}, follow=True
    )
    html = response.content.decode().lower()
    assert "the check of “relay” failed" in html and "running" in html


def test_global_options_are_one_editable_row(admin_client):
    response = admin_client.get("/admin/endpoints/pooloptions/")
    assert response.status_code == 302 and response.url.endswith("/change/")
    form = {
        "health_check_interval": "20",
        "reconnect_interval": "2",
        "max_reconnect_attempts": "0",
        "max_reconnect_delay": "60",
        "connection_timeout": "5",
        "reconnect_strategy": "linear-backoff",
        "jitter": "",
        "load_balance_strategy": "random",
    }
    assert admin_client.post(response.url, form).status_code == 302
    options = PoolOptions.load()
    assert (options.health_check_interval, options.reconnect_strategy, options.jitter) == (
        20.0,
        "linear-backoff",
        False,
    )
    assert options.load_balance_strategy == "random"
    assert admin_client.get("/admin/endpoints/pooloptions/add/").status_code == 403
