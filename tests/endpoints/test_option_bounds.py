"""Every connection option has a floor and a ceiling (issue 13, item 8).

Before, `healthCheckInterval: 1.5e308` (ms) was stored: health checks were off
in effect. Now REST, the admin form and xiaozhi.config.json refuse it with the
range in the message, and nothing changes.
"""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from endpoints.models import Endpoint, PoolOptions
from endpoints.options import BY_KEY, OptionError, options_from_json
from tests.endpoints.conftest import secret_url

TOO_BIG = [1.5e308, 10**20, 10**400, float("inf"), float("nan")]


@pytest.fixture
def superuser_client(db):
    user = get_user_model().objects.create_superuser("root", "root@example.org", "pw")
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.parametrize("value", TOO_BIG, ids=repr)
@pytest.mark.parametrize("key", [k for k, s in BY_KEY.items() if s.kind in ("duration", "count")])
def test_options_out_of_range_are_refused_with_the_range(key, value):
    with pytest.raises(OptionError) as caught:
        options_from_json({key: value})
    assert caught.value.key == key and " to " in caught.value.message


def test_the_ceiling_itself_is_accepted():
    spec = BY_KEY["healthCheckInterval"]
    assert options_from_json({"healthCheckInterval": spec.maximum * 1000}) == {
        "health_check_interval": spec.maximum
    }
    with pytest.raises(OptionError):
        options_from_json({"healthCheckInterval": spec.maximum * 1000 + 1})


def test_rest_refuses_an_absurd_health_interval_and_keeps_the_old_value(superuser_client):
    response = superuser_client.patch(
        "/api/pool/options", {"healthCheckInterval": 1.5e308}, format="json"
    )
    assert response.status_code == 400
    assert "from 1000 to 3600000" in str(response.json()["healthCheckInterval"])
    assert PoolOptions.load().health_check_interval == 30.0

    endpoint = Endpoint.objects.create(name="e", url=secret_url())
    response = superuser_client.patch(
        f"/api/endpoints/{endpoint.pk}",
        {"options": {"maxReconnectAttempts": 10**20}},
        format="json",
    )
    assert response.status_code == 400
    endpoint.refresh_from_db()
    assert endpoint.max_reconnect_attempts is None


def test_admin_form_refuses_a_value_above_the_ceiling(client, db):
    user = get_user_model().objects.create_superuser("root", "root@example.org", "pw")
    client.force_login(user)
    url = "/admin/endpoints/pooloptions/1/change/"
    PoolOptions.load()
    form = {
        "health_check_interval": "1e300",
        "reconnect_interval": "2",
        "max_reconnect_attempts": "0",
        "max_reconnect_delay": "60",
        "connection_timeout": "5",
        "reconnect_strategy": "linear-backoff",
        "load_balance_strategy": "random",
    }
    response = client.post(url, form)
    assert response.status_code == 200  # the form again, with the error
    assert "less than or equal to 3600" in response.content.decode()
    assert PoolOptions.load().health_check_interval == 30.0
