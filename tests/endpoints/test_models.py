"""Endpoint and options models: URL validation, masking, token expiry, merged options."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from endpoints.models import Endpoint, PoolOptions
from endpoints.options import OptionError, options_from_json, options_to_json
from endpoints.pool.config import ConnectionOptions
from tests.endpoints.conftest import SECRET_MARK, secret_url

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    ["ws://127.0.0.1:8004/mcp_endpoint/mcp/?token=abc", "wss://api.xiaozhi.me/mcp/?token=x.y.z"],
)
def test_ws_and_wss_urls_are_accepted(url):
    Endpoint(name="a", url=url).full_clean()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (f"https://api.xiaozhi.me/mcp/?token={SECRET_MARK}", "not a ws:// or wss:// URL"),
        (f"api.xiaozhi.me/mcp/?token={SECRET_MARK}", "not a ws:// or wss:// URL"),
        (f"ws:///mcp/?token={SECRET_MARK}", "the URL has no host"),
        (f"ws://host:99999/?token={SECRET_MARK}", "not a valid URL"),
    ],
)
def test_bad_urls_are_refused_with_a_clear_error_that_hides_the_token(url, message):
    with pytest.raises(ValidationError) as caught:
        Endpoint(name="a", url=url).full_clean()
    text = " ".join(caught.value.message_dict["url"])
    assert message in text
    assert SECRET_MARK not in text and "token=***" in text


def test_masked_url_hides_the_token():
    endpoint = Endpoint(name="a", url=secret_url())
    assert SECRET_MARK not in endpoint.masked_url
    assert endpoint.masked_url == "ws://127.0.0.1:8004/mcp/?token=***"
    assert SECRET_MARK not in str(endpoint) and SECRET_MARK not in repr(endpoint)


def test_token_expiry_is_read_from_the_jwt_and_shown_in_days():
    now = datetime(2030, 1, 1, tzinfo=UTC)
    in_ten_days = Endpoint(
        name="a", url=secret_url(exp=(now + timedelta(days=10, hours=2)).timestamp())
    )
    assert in_ten_days.token_expires_at == now + timedelta(days=10, hours=2)
    assert in_ten_days.token_expiry_label(now=now) == "expires in 10 days"
    assert not in_ten_days.token_expired(now=now)

    one_day = Endpoint(
        name="b", url=secret_url(exp=(now + timedelta(days=1, minutes=5)).timestamp())
    )
    assert one_day.token_expiry_label(now=now) == "expires in 1 day"
    soon = Endpoint(name="c", url=secret_url(exp=(now + timedelta(hours=3)).timestamp()))
    assert soon.token_expiry_label(now=now) == "expires in less than a day"

    expired = Endpoint(name="d", url=secret_url(exp=(now - timedelta(seconds=1)).timestamp()))
    assert expired.token_expiry_label(now=now) == "expired" and expired.token_expired(now=now)

    opaque = Endpoint(name="e", url="ws://relay:8004/mcp/?token=not-a-jwt")
    assert opaque.token_expires_at is None and opaque.token_expiry_label() == "no expiry"


def test_global_options_have_the_documented_defaults():
    options = PoolOptions.load()
    assert options_to_json(options) == {
        "healthCheckInterval": 30000,
        "reconnectInterval": 5000,
        "maxReconnectAttempts": 10,
        "maxReconnectDelay": 30000,
        "connectionTimeout": 10000,
        "reconnectStrategy": "exponential-backoff",
        "jitter": True,
        "loadBalanceStrategy": "round-robin",
    }
    assert PoolOptions.load().pk == options.pk  # a singleton


def test_per_endpoint_overrides_are_merged_over_the_global_options():
    options = PoolOptions.load()
    options.reconnect_strategy = "adaptive"
    options.save()
    endpoint = Endpoint.objects.create(
        name="a", url=secret_url(), health_check_interval=5, jitter=False, reconnect_strategy=""
    )
    merged = endpoint.connection_options(PoolOptions.load())
    assert merged == ConnectionOptions(
        health_check_interval=5.0, reconnect_strategy="adaptive", jitter=False
    )
    config = endpoint.to_config(PoolOptions.load())
    assert config.id == endpoint.pk and config.url == endpoint.url and config.options == merged


def test_option_values_are_checked_with_the_key_in_the_error():
    assert options_from_json({"healthCheckInterval": 1500}) == {"health_check_interval": 1.5}
    for bad, key in (
        ({"healthCheckInterval": 10}, "healthCheckInterval"),
        ({"maxReconnectAttempts": 2.5}, "maxReconnectAttempts"),
        ({"reconnectStrategy": "sometimes"}, "reconnectStrategy"),
        ({"jitter": "yes"}, "jitter"),
        ({"connectionTimeout": True}, "connectionTimeout"),
        ({"colour": 1}, "colour"),
    ):
        with pytest.raises(OptionError) as caught:
            options_from_json(bad)
        assert caught.value.key == key


def test_a_max_delay_below_the_reconnect_interval_is_refused():
    endpoint = Endpoint(name="a", url=secret_url(), reconnect_interval=10, max_reconnect_delay=5)
    with pytest.raises(ValidationError) as caught:
        endpoint.full_clean()
    assert "max_reconnect_delay" in caught.value.message_dict
