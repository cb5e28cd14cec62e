"""The endpoint's change page: live status in words, the state-change timeline, the
Reconnect and Check buttons (permission, POST with CSRF, hostile input), and why a
manual check failed - in the admin's message, the command and the console's reply,
against a real pool worker and a real peer over the Redis control bus."""

from __future__ import annotations

import io
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from endpoints.lease import lease_round
from endpoints.models import Endpoint, EndpointEvent, PoolWorker
from endpoints.pool.status import EndpointStatus
from endpoints.services.endpoint_status import endpoint_status_store
from endpoints.status_timeline import state_runs
from tests.access.identities import make_user
from tests.endpoints.conftest import SECRET_MARK, open_to, secret_token, secret_url, wait_until
from tests.endpoints.peers import answer_pings

CHANGELIST = "/admin/endpoints/endpoint/"
ISO_MICROSECONDS = re.compile(r"\d{2}:\d{2}:\d{2}\.\d{3,6}")


def change_page(pk: int) -> str:
    return f"{CHANGELIST}{pk}/change/"


def client_of(identity: str) -> Client:
    client = Client()
    client.force_login(make_user(identity))
    return client


@pytest.fixture
def endpoint(db):
    return Endpoint.objects.create(name="relay", url=secret_url(tag="status"))


def report_connected(endpoint: Endpoint, **values) -> None:
    """What a worker holding `endpoint` would write: connected, these numbers."""
    lease_round(owner="w1:1:a", ttl=30)
    status = EndpointStatus(endpoint_id=endpoint.pk, name=endpoint.name, url=endpoint.url)
    status.state, status.connected, status.initialized = "connected", True, True
    for name, value in values.items():
        setattr(status, name, value)
    endpoint_status_store(worker="w1:1:a", changes=[(status, "connecting")], latest=[])


# --- live status in words ----------------------------------------------------------


@pytest.mark.django_db
def test_the_live_status_reads_as_words_in_the_hubs_time_zone(admin_client, endpoint, settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    connected_at = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)  # 11:04 in Shanghai
    report_connected(
        endpoint,
        health_score=92.4,
        rtt_ms=43.21,
        rtt_p95_ms=81.0,
        last_connected=connected_at,
        total_requests=120,
        successful_requests=118,
    )
    html = admin_client.get(change_page(endpoint.pk)).content.decode()

    assert "Connected · health 92/100 · RTT 43 ms · updated just now" in html
    assert "Jan. 2, 2026, 11:04 a.m." in html  # the hub's zone, the language's format
    assert "118 of 120" in html and "81 ms" in html and "icon-yes.svg" in html
    assert "False" not in html and "None" not in html
    assert not ISO_MICROSECONDS.search(html), ISO_MICROSECONDS.search(html)
    assert "hub-admin/endpoint.css" in html
    assert SECRET_MARK not in html

    chinese = admin_client.get(change_page(endpoint.pk), HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "2026年1月2日 11:04" in chinese.content.decode()  # the language's own format


@pytest.mark.django_db
def test_values_nobody_reported_are_a_dash(admin_client, endpoint):
    html = admin_client.get(change_page(endpoint.pk)).content.decode()
    status = html.split('class="endpoint-status"', 1)[1].split("</dl>", 1)[0]
    assert "Connecting" in status and "—" in status and "icon-no.svg" in status
    assert "None" not in status and "False" not in status
    assert "No state changes recorded yet." in html


# --- the timeline --------------------------------------------------------------------

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def changes(endpoint: Endpoint, plan: list[tuple[float, str, str]], *, start=T0) -> None:
    """(seconds after `start`, state, error) in order: the rows the pool would write."""
    previous = ""
    for seconds, state, error in plan:
        EndpointEvent.objects.create(
            endpoint=endpoint,
            at=start + timedelta(seconds=seconds),
            state=state,
            previous_state=previous,
            error_class="network" if error else "",
            error=error,
        )
        previous = state


FLAPS = [
    (0, "connecting", ""),
    (0.4, "connected", ""),
    (11520, "backoff", "connection refused"),  # after 3 h 12 min
    (11522, "connecting", ""),
    (11522.3, "backoff", "connection refused"),
    (11555, "connecting", ""),
    (11560.5, "connected", ""),  # 40.5 s of backoff and short dials
]


@pytest.mark.django_db
def test_the_state_changes_fold_into_runs(endpoint):
    from endpoints.selectors.endpoint import endpoint_events

    changes(endpoint, FLAPS)
    now = T0 + timedelta(seconds=11560.5 + 600)
    runs = state_runs(endpoint_events(endpoint_id=endpoint.pk), now=now)
    assert [(r.state, round(r.seconds(now)), r.times) for r in runs] == [
        ("connected", 11520, 1),
        ("backoff", 40, 2),  # the short dial between the two is part of it
        ("connected", 600, 1),
    ]
    assert runs[1].error == "connection refused" and runs[-1].end is None


@pytest.mark.django_db
def test_the_change_page_shows_the_timeline_not_a_table(admin_client, endpoint):
    changes(endpoint, FLAPS)
    html = admin_client.get(change_page(endpoint.pk)).content.decode()
    timeline = html.split('class="endpoint-timeline"', 1)[1].split("</ol>", 1)[0]
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", timeline))
    assert re.search(
        r"connected 3 h 12 min .*backoff 40 s ×2 \(network: connection refused\)", text
    )
    assert text.count("connected") == 2 and "so far" in text
    assert "<table" not in html.split('id="endpoint_form"', 1)[1].split("submit-row", 1)[0]


# --- the buttons ---------------------------------------------------------------------


def post_control(client: Client, pk, action: str, **kwargs):
    return client.post(f"{CHANGELIST}{pk}/{action}/", **kwargs)


@pytest.mark.django_db
def test_only_operators_get_the_buttons_and_may_press_them(endpoint):
    viewer, operator, staff = client_of("viewer"), client_of("operator"), client_of("staff")
    assert 'name="reconnect"' not in viewer.get(change_page(endpoint.pk)).content.decode()
    page = operator.get(change_page(endpoint.pk)).content.decode()
    assert 'name="reconnect"' in page and 'name="check"' in page

    for action in ("reconnect", "check"):
        refused = post_control(viewer, endpoint.pk, action)
        assert refused.status_code == 403
        assert "endpoints.change_endpoint" in refused.content.decode()  # says what is missing
        assert post_control(staff, endpoint.pk, action).status_code == 403
        anonymous = post_control(Client(), endpoint.pk, action)
        assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]

        # No pool worker runs here (Redis mode, nobody subscribed): each says so.
        answered = post_control(operator, endpoint.pk, action, follow=True)
        html = answered.content.decode()
        assert answered.redirect_chain[-1][0] == change_page(endpoint.pk)
        assert "No endpoint pool worker is running" in html
        assert "not reconnected" in html if action == "reconnect" else "failed" in html


@pytest.mark.django_db
def test_the_buttons_refuse_hostile_requests(admin_client, endpoint):
    for action in ("reconnect", "check"):
        assert admin_client.get(f"{CHANGELIST}{endpoint.pk}/{action}/").status_code == 405
        for bad in ("999999", "abc", "1%2F..%2F2", "-1"):
            response = post_control(admin_client, bad, action, follow=True)
            assert response.status_code == 200  # Django's "doesn't exist" message, at home
            assert "doesn’t exist" in response.content.decode()

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(make_user("superuser"))
    assert post_control(csrf_client, endpoint.pk, "check").status_code == 403  # no token
    page = csrf_client.get(change_page(endpoint.pk)).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    answered = post_control(csrf_client, endpoint.pk, "check", data={"csrfmiddlewaretoken": token})
    assert answered.status_code == 302 and answered["Location"] == change_page(endpoint.pk)


# --- why a check failed: a real worker, a real peer ----------------------------------


async def silent(connection, message):
    return None


async def ping_error(connection, message):
    error = {"code": -32000, "message": "pings are switched off here"}
    return {"jsonrpc": "2.0", "id": message["id"], "error": error}


def messages_of(response) -> str:
    return " ".join(re.findall(r'<li class="(?:success|error|warning|info)">(.*?)</li>', response))


@pytest.mark.requires_services("mysql", "redis")
@pytest.mark.django_db(transaction=True)
def test_a_failed_check_says_why(peer_thread, start_worker):
    peer = peer_thread.peer("idle")
    token = secret_token("why")
    endpoint = Endpoint.objects.create(name="why", url=peer.url(token), connection_timeout=1.0)
    off = Endpoint.objects.create(name="off", url=secret_url(tag="off"), enabled=False)
    # Held by another live worker (that never answers here): ours leaves it alone.
    now = timezone.now()
    PoolWorker.objects.create(name="other:1:x", hostname="other", pid=1, heartbeat_at=now)
    elsewhere = Endpoint.objects.create(
        name="elsewhere",
        url=secret_url(tag="elsewhere"),
        owner="other:1:x",
        lease_expires_at=now + timedelta(minutes=5),
    )
    start_worker(ttl=15, reconcile_interval=1)
    wait_until(lambda: open_to(peer, token), timeout=15, message="never connected")
    operator = client_of("operator")

    def check(pk: int) -> str:
        response = post_control(operator, pk, "check", follow=True)
        return messages_of(response.content.decode())

    assert re.search(r"“why” answered the ping in [\d.]+ ms \(worker \S+\)", check(endpoint.pk))

    assert "worker other:1:x holds it but sent no result for it" in check(elsewhere.pk)

    peer.request_handler = ping_error
    said = check(endpoint.pk)
    assert "The check of “why” failed" in said
    assert "answered the ping with an error: pings are switched off here" in said
    console = console_check(operator, endpoint.pk)  # the console's request says it too
    assert console["results"][0]["ok"] is False
    assert console["results"][0]["reason"] == "peer_error"
    assert "pings are switched off here" in console["results"][0]["error"]
    out = io.StringIO()
    with pytest.raises(CommandError, match="not every endpoint answered"):
        call_command("endpoints_check", "why", stdout=out)
    assert "why: the check failed: the endpoint answered the ping with an error" in out.getvalue()

    peer.request_handler = silent  # one unanswered ping (a second would drop the line)
    assert "no answer to the ping within 1 s" in check(endpoint.pk)

    assert "it is disabled: no worker connects it" in check(off.pk)

    peer.request_handler = answer_pings
    peer.mode = "reject-500"
    [connection] = open_to(peer, token)
    peer_thread.loop.call_soon_threadsafe(connection.drop)
    wait_until(
        lambda: Endpoint.objects.get(pk=endpoint.pk).live.state == "backoff",
        timeout=15,
        message="the endpoint never backed off",
    )
    said = check(endpoint.pk)
    assert "The check of “why” failed: not connected (backing off); last error:" in said
    assert SECRET_MARK not in said


def console_check(client: Client, pk: int) -> dict:
    frame = {"id": "c1", "type": "endpoint:check", "payload": {"endpointId": pk}}
    response = client.post("/console/request", json.dumps(frame), content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()["payload"]["result"]


@pytest.mark.requires_services("mysql", "redis")
@pytest.mark.django_db(transaction=True)
def test_the_reconnect_button_and_command_wait_for_the_worker(peer_thread, start_worker):
    peer = peer_thread.peer()
    token = secret_token("button")
    endpoint = Endpoint.objects.create(name="button", url=peer.url(token))
    Endpoint.objects.create(name="parked", url=secret_url(tag="parked"), enabled=False)
    start_worker(ttl=15, reconcile_interval=1)
    wait_until(lambda: open_to(peer, token), timeout=15, message="never connected")
    [first] = open_to(peer, token)

    response = post_control(client_of("operator"), endpoint.pk, "reconnect", follow=True)
    assert re.search(r"Reconnecting “button” now \(worker \S+\)", response.content.decode())
    wait_until(
        lambda: [c for c in open_to(peer, token) if c is not first],
        timeout=15,
        message="the endpoint was not redialled",
    )

    out = io.StringIO()
    call_command("endpoint_reconnect", "button", stdout=out)
    assert re.search(rf"^Reconnecting {endpoint.pk} button now \(worker \S+\)\.$", out.getvalue())
    with pytest.raises(CommandError, match="was not reconnected: it is disabled"):
        call_command("endpoint_reconnect", "parked", stdout=io.StringIO())
