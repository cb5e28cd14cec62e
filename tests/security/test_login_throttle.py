"""Admin login throttling (django-axes): wrong passwords lock a username out from an address."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.test import Client

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"
PASSWORD = "the-right-password-1"
COOLOFF_SECONDS = 2


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_user(
        "root", password=PASSWORD, is_staff=True, is_superuser=True
    )


@pytest.fixture(autouse=True)
def small_limits(settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = timedelta(seconds=COOLOFF_SECONDS)


def log_in(client, password: str, **headers):
    return client.post(LOGIN, {"username": "root", "password": password}, **headers)


def logged_in(client) -> bool:
    return client.get("/admin/").status_code == 200


def test_wrong_passwords_lock_out_then_the_right_one_fails_until_the_cool_off(client, superuser):
    for _ in range(2):
        answer = log_in(client, "wrong")
        assert answer.status_code == 200  # the form again, with its error
        assert "Please enter the correct username and password" in answer.text
    locked = log_in(client, "wrong")
    assert locked.status_code == 429
    assert "Login temporarily locked" in locked.text
    assert "3 failed logins in a row" in locked.text

    # The right password does not get in while the lock lasts.
    answer = log_in(client, PASSWORD)
    assert answer.status_code == 429
    assert "Login temporarily locked" in answer.text
    assert not logged_in(client)

    time.sleep(COOLOFF_SECONDS + 0.5)
    assert log_in(client, PASSWORD).status_code == 302
    assert logged_in(client)


def test_the_lock_is_per_address_so_the_real_admin_elsewhere_still_gets_in(client, superuser):
    for _ in range(3):
        log_in(client, "wrong")
    assert log_in(client, PASSWORD).status_code == 429
    # The same username from another address.
    assert log_in(Client(), PASSWORD, REMOTE_ADDR="192.0.2.44").status_code == 302


def test_behind_a_proxy_the_lock_follows_the_forwarded_address_and_cannot_be_dodged(
    client, superuser, settings
):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}  # HUB_PROXY_COUNT=1
    attacker = {"HTTP_X_FORWARDED_FOR": "203.0.113.5"}
    for _ in range(3):
        log_in(client, "wrong", **attacker)
    # Prepending a made-up address changes nothing: the proxy's own entry counts.
    forged = {"HTTP_X_FORWARDED_FOR": "198.51.100.1, 203.0.113.5"}
    assert log_in(client, PASSWORD, **forged).status_code == 429
    assert log_in(client, PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.6").status_code == 302
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.5"}


def test_axes_reset_lifts_the_lock_at_once(client, superuser):
    for _ in range(3):
        log_in(client, "wrong")
    assert log_in(client, PASSWORD).status_code == 429
    call_command("axes_reset_username", "root")
    assert log_in(client, PASSWORD).status_code == 302


def test_a_successful_login_forgets_earlier_failures(client, superuser):
    for _ in range(2):
        log_in(client, "wrong")
    assert log_in(client, PASSWORD).status_code == 302
    client.post("/admin/logout/")
    for _ in range(2):
        assert log_in(client, "wrong").status_code == 200  # not locked: the count restarted
