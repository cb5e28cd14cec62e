"""Who may scrape /metrics: never anyone by default; the token, the addresses, or both."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.test import Client

from tests.metrics.scrape import TOKEN, parse, scrape_client
from tests.services import REPO, hub_env

pytestmark = pytest.mark.django_db


@pytest.fixture
def client():
    return Client()


def test_neither_token_nor_addresses_configured_refuses_everyone(client, settings, staff_client):
    settings.HUB_METRICS_TOKEN = None
    settings.HUB_METRICS_ALLOWED_IPS = []
    status, body = scrape_client(client, token=TOKEN)
    assert status == 403
    assert "HUB_METRICS_TOKEN" in body and "HUB_METRICS_ALLOWED_IPS" in body
    # A logged-in superuser is no scraper either.
    assert staff_client.get("/metrics").status_code == 403


def test_token_no_token_and_wrong_token_get_401_the_right_one_the_numbers(client, settings):
    settings.HUB_METRICS_TOKEN = TOKEN
    settings.HUB_METRICS_ALLOWED_IPS = []
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert scrape_client(client, token=TOKEN + "x")[0] == 401
    assert scrape_client(client, token=TOKEN[:-1])[0] == 401
    # Another scheme with the right secret is not the bearer token either.
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Token {TOKEN}").status_code == 401
    status, body = scrape_client(client, token=TOKEN)
    assert status == 200, body
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    parse(body)  # valid exposition text
    assert TOKEN not in body


def test_allowed_addresses_alone(client, settings):
    settings.HUB_METRICS_TOKEN = None
    settings.HUB_METRICS_ALLOWED_IPS = ["10.0.0.0/8", "192.168.7.7"]
    status, body = scrape_client(client, token=None, REMOTE_ADDR="127.0.0.1")
    assert status == 403 and "HUB_METRICS_ALLOWED_IPS" in body
    assert scrape_client(client, token=None, REMOTE_ADDR="10.20.30.40")[0] == 200
    assert scrape_client(client, token=None, REMOTE_ADDR="192.168.7.7")[0] == 200
    assert scrape_client(client, token=None, REMOTE_ADDR="192.168.7.8")[0] == 403


def test_addresses_behind_a_proxy_are_read_as_the_throttles_read_them(client, settings):
    """HUB_PROXY_COUNT=1: the address the proxy appended counts, not one the client wrote."""
    settings.HUB_METRICS_TOKEN = None
    settings.HUB_METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    proxy = {"REMOTE_ADDR": "172.17.0.1"}
    assert scrape_client(client, token=None, HTTP_X_FORWARDED_FOR="10.1.2.3", **proxy)[0] == 200
    forged = "10.1.2.3, 203.0.113.9"  # the client wrote the first, the proxy added the second
    assert scrape_client(client, token=None, HTTP_X_FORWARDED_FOR=forged, **proxy)[0] == 403


def test_token_and_addresses_together_need_both(client, settings):
    settings.HUB_METRICS_TOKEN = TOKEN
    settings.HUB_METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    assert scrape_client(client, token=TOKEN, REMOTE_ADDR="127.0.0.1")[0] == 403
    assert scrape_client(client, token="wrong-token-wrong-token", REMOTE_ADDR="10.0.0.5")[0] == 401
    assert scrape_client(client, token=TOKEN, REMOTE_ADDR="10.0.0.5")[0] == 200


def test_metrics_off_answers_404(client, settings):
    settings.HUB_METRICS_TOKEN = TOKEN
    settings.HUB_METRICS_ENABLED = False
    status, body = scrape_client(client, token=TOKEN)
    assert status == 404 and "HUB_METRICS_ENABLED" in body


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("HUB_METRICS_ALLOWED_IPS", "10.0.0.0/8,not-a-net", "'not-a-net' is not an address"),
        ("HUB_METRICS_ALLOWED_IPS", "10.0.0.0/33", "'10.0.0.0/33' is not an address"),
        ("HUB_METRICS_TOKEN", "short", "at least 16 characters"),
        ("HUB_METRICS_PUBLISH_INTERVAL", "0", "HUB_METRICS_PUBLISH_INTERVAL"),
    ],
)
def test_bad_settings_refuse_to_start(variable, value, message):
    result = subprocess.run(
        [sys.executable, "-c", "import xiaozhi_hub.settings"],
        cwd=REPO,
        env=hub_env(**{variable: value}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr, result.stderr
