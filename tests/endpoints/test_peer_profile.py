"""An endpoint's peer profile at the Django edge: model → pool config, admin, REST,
commands, the status in words, and a real worker on the test relay."""

import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from endpoints import status_display
from endpoints.models import Endpoint, EndpointLiveStatus, PoolOptions
from endpoints.pool import RELAY
from endpoints.pool.pool import RELAY_SKIPPED
from endpoints.pool_requests.endpoint import endpoint_probe
from tests.endpoints.conftest import SECRET_MARK, secret_token, secret_url, wait_until
from tests.endpoints.relay_peer import RelayPeer

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/endpoints/endpoint/"


def relay_url(tag: str = "r") -> str:
    return f"ws://relay.example:8004/mcp_endpoint/mcp/?token={secret_token(tag)}"


def run(*args) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def waiting_relay() -> Endpoint:
    """A relay endpoint whose worker reported it connected, no device initialized yet."""
    endpoint = Endpoint.objects.create(
        name="home",
        url=relay_url(),
        owner="w:1:a",
        lease_expires_at=timezone.now() + timedelta(minutes=5),
    )
    EndpointLiveStatus.objects.create(
        endpoint=endpoint, state="connected", connected=True, initialized=False, health_score=100
    )
    return endpoint


# -- model → pool config --------------------------------------------------------------


def test_to_config_resolves_the_profile():
    options = PoolOptions.load()
    relay = Endpoint.objects.create(name="r", url=relay_url())
    broker = Endpoint.objects.create(name="b", url=secret_url(tag="b"))
    assert relay.effective_peer_profile == "relay" and relay.to_config(options).profile is RELAY
    config = broker.to_config(options)
    assert broker.effective_peer_profile == "broker"
    assert (config.profile.name, config.profile.initialize_timeout, config.profile.mcp_ping) == (
        "broker",
        None,  # the connection timeout, as before profiles existed
        True,
    )
    relay.peer_profile = "broker"  # an override wins over the URL
    assert relay.to_config(options).profile.name == "broker"
    broker.peer_profile = "relay"
    assert broker.to_config(options).profile is RELAY


@override_settings(HUB_BROKER_INITIALIZE_TIMEOUT=25, HUB_BROKER_MCP_PING=False)
def test_broker_settings_reach_the_pool_config():
    broker = Endpoint.objects.create(name="b", url=secret_url(tag="b"))
    profile = broker.to_config(PoolOptions.load()).profile
    assert (profile.initialize_timeout, profile.mcp_ping) == (25, False)


# -- REST -------------------------------------------------------------------------------


def test_rest_sets_shows_and_changes_the_profile(staff_client):
    created = staff_client.post(
        "/api/endpoints", {"name": "home", "url": relay_url("rest")}, format="json"
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["peerProfile"], body["effectivePeerProfile"]) == ("auto", "relay")
    assert body["status"]["peerProfile"] == "relay"
    pk = body["id"]

    changed = staff_client.patch(f"/api/endpoints/{pk}", {"peerProfile": "broker"}, format="json")
    assert changed.status_code == 200, changed.json()
    assert (changed.json()["peerProfile"], changed.json()["effectivePeerProfile"]) == (
        "broker",
        "broker",
    )
    assert Endpoint.objects.get(pk=pk).peer_profile == "broker"

    # PUT without it: back to the default, auto
    put = staff_client.put(
        f"/api/endpoints/{pk}", {"name": "home", "url": relay_url("rest")}, format="json"
    )
    assert put.status_code == 200 and put.json()["peerProfile"] == "auto"

    listed = staff_client.get("/api/endpoints").json()
    items = listed["results"] if isinstance(listed, dict) else listed
    assert [item["effectivePeerProfile"] for item in items] == ["relay"]


@pytest.mark.parametrize("bad", ["xiaozhi", "RELAY", "", None, 3, ["relay"], {"a": 1}])
def test_an_unknown_profile_is_a_clear_400(staff_client, bad):
    response = staff_client.post(
        "/api/endpoints",
        {"name": "x", "url": secret_url(tag="x"), "peerProfile": bad},
        format="json",
    )
    assert response.status_code == 400
    assert "peerProfile" in response.json(), response.json()
    assert SECRET_MARK not in response.content.decode()
    assert not Endpoint.objects.exists()


def test_the_status_of_a_waiting_relay(staff_client):
    endpoint = waiting_relay()
    status = staff_client.get(f"/api/endpoints/{endpoint.pk}").json()["status"]
    assert status["state"] == "connected" and status["waitingForDevice"] is True
    assert status["peerProfile"] == "relay"
    pool = staff_client.get("/api/status").json()
    assert pool["connections"][0]["waitingForDevice"] is True


# -- admin ------------------------------------------------------------------------------


def test_admin_adds_lists_and_edits_the_profile(admin_client):
    response = admin_client.post(
        f"{CHANGELIST}add/", {"name": "home", "url": relay_url("adm"), "peer_profile": "auto"}
    )
    assert response.status_code == 302
    endpoint = Endpoint.objects.get(name="home")
    html = admin_client.get(CHANGELIST).content.decode()
    assert "Self-hosted relay (detected from the URL)" in html
    assert SECRET_MARK not in html

    response = admin_client.post(
        f"{CHANGELIST}{endpoint.pk}/change/",
        {"name": "home", "url": "", "enabled": "on", "peer_profile": "broker"},
    )
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.peer_profile == "broker"
    assert "Broker (xiaozhi.me)" in admin_client.get(CHANGELIST).content.decode()

    response = admin_client.post(
        f"{CHANGELIST}{endpoint.pk}/change/",
        {"name": "home", "url": "", "enabled": "on", "peer_profile": "nonsense"},
    )
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    endpoint.refresh_from_db()
    assert endpoint.peer_profile == "broker"


def test_admin_says_a_relay_is_waiting_for_a_device(admin_client):
    endpoint = waiting_relay()
    page = admin_client.get(f"{CHANGELIST}{endpoint.pk}/change/").content.decode()
    assert "waiting for a device" in page
    assert "Self-hosted relay" in page
    assert SECRET_MARK not in page


def test_status_words():
    status = {"state": "connected", "connected": True, "healthScore": 100.0, "rttMs": 2.0}
    line = status_display.summary({**status, "waitingForDevice": True}, updated_at=None)
    assert line.startswith("Connected · waiting for a device · health 100/100")
    assert "waiting" not in status_display.summary(status, updated_at=None)
    assert status_display.profile_label("relay", "auto") == (
        "Self-hosted relay (detected from the URL)"
    )
    assert status_display.profile_label("broker", "broker") == "Broker (xiaozhi.me)"
    assert status_display.profile_label(None) == status_display.MISSING


# -- commands ---------------------------------------------------------------------------


def test_commands_set_and_show_the_profile():
    out = run("endpoint_add", "home", relay_url("cmd"), "--peer-profile", "relay")
    assert "Added endpoint" in out and SECRET_MARK not in out
    endpoint = Endpoint.objects.get(name="home")
    assert endpoint.peer_profile == "relay"
    run("endpoint_update", "home", "--peer-profile", "auto")
    endpoint.refresh_from_db()
    assert endpoint.peer_profile == "auto"
    with pytest.raises(CommandError, match="invalid choice: 'xiaozhi'"):
        run("endpoint_update", "home", "--peer-profile", "xiaozhi")

    endpoint.delete()
    waiting_relay()
    out = run("endpoints_status")
    assert "relay" in out and "connected (waiting for a device)" in out
    assert SECRET_MARK not in out


# -- a real worker on the test relay --------------------------------------------------


@pytest.mark.django_db(transaction=True)  # the worker reads the rows from its own thread
def test_a_worker_stays_on_an_idle_relay_and_serves_a_late_robot(peer_thread, start_worker):
    relay = peer_thread.run(RelayPeer().__aenter__())
    try:
        url = relay.tool_url("agent")
        endpoint = Endpoint.objects.create(
            name="home", url=url, connection_timeout=1.0, health_check_interval=1.0
        )
        start_worker(ttl=15, reconcile_interval=1)
        wait_until(lambda: relay.tool_connections, timeout=15, message="never connected")

        def live():
            return EndpointLiveStatus.objects.filter(endpoint=endpoint).first()

        # Several initialize deadlines of a broker (1 s) pass with no robot: still up.
        wait_until(
            lambda: (s := live()) is not None and s.successful_requests >= 3,
            timeout=15,
            message="no WebSocket pings answered",
        )
        status = live()
        assert status.state == "connected" and status.connected and not status.initialized
        assert len(relay.tool_connections) == 1 and relay.dropped == []
        # A probe is not sent to the relay (it would drop it); the answer says so.
        answer = endpoint_probe(method="ping")
        assert "self-hosted relay(s) skipped" in answer["error"]
        assert answer["attempts"] == [{"endpointId": endpoint.pk, "error": RELAY_SKIPPED}]

        async def robot_session() -> str:
            async with relay.robot("agent") as robot:
                await robot.initialize()
                assert "hub__echo" in {t["name"] for t in await robot.list_tools()}
                result = await robot.call_tool("hub__echo", {"text": "late"})
                return result["content"][0]["text"]

        text = peer_thread.run(robot_session())
        assert text == "late"
        assert len(relay.tool_connections) == 1
    finally:
        peer_thread.run(relay.__aexit__(None, None, None))
