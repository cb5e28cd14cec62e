"""What the production-profile variables turn on, read by a fresh process."""

from __future__ import annotations

import pytest

from .settings_env import clean_env, run_python, settings_from

PROFILE = [
    "SECURE_PROXY_SSL_HEADER",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "SESSION_COOKIE_SAMESITE",
    "CSRF_COOKIE_SAMESITE",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "AXES_FAILURE_LIMIT",
    "AXES_COOLOFF_TIME",
    "REST_FRAMEWORK",
    "CACHES",
]


def test_by_default_nothing_assumes_https_and_the_limits_are_the_documented_ones(tmp_path):
    values = settings_from(tmp_path, PROFILE)
    assert values["SECURE_PROXY_SSL_HEADER"] is None  # X-Forwarded-Proto is not trusted
    assert values["SESSION_COOKIE_SECURE"] is False
    assert values["CSRF_COOKIE_SECURE"] is False
    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SECURE_HSTS_SECONDS"] == 0
    assert values["SESSION_COOKIE_HTTPONLY"] is True
    assert values["AXES_FAILURE_LIMIT"] == 5
    assert values["AXES_COOLOFF_TIME"] == "0:15:00"
    rest = values["REST_FRAMEWORK"]
    assert rest["DEFAULT_THROTTLE_RATES"] == {"user": "600/min", "anon": "60/min"}
    assert rest["NUM_PROXIES"] == 0  # X-Forwarded-For is not trusted either
    assert values["CACHES"]["default"]["BACKEND"].endswith("LocMemCache")


def test_hub_https_turns_on_the_whole_profile(tmp_path):
    values = settings_from(tmp_path, PROFILE, HUB_HTTPS="true")
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert values["SESSION_COOKIE_SECURE"] is True
    assert values["CSRF_COOKIE_SECURE"] is True
    assert values["SESSION_COOKIE_SAMESITE"] == values["CSRF_COOKIE_SAMESITE"] == "Lax"
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_HSTS_SECONDS"] == 31536000
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is False
    assert values["SECURE_HSTS_PRELOAD"] is False


def test_the_individual_variables_override_the_profile(tmp_path):
    values = settings_from(
        tmp_path,
        PROFILE,
        HUB_HTTPS="true",
        HUB_SSL_REDIRECT="false",
        HUB_HSTS_SECONDS="600",
        HUB_HSTS_INCLUDE_SUBDOMAINS="true",
        HUB_HSTS_PRELOAD="true",
        HUB_LOGIN_FAILURE_LIMIT="3",
        HUB_LOGIN_COOLOFF_MINUTES="2",
        HUB_API_THROTTLE_USER="100/hour",
        HUB_API_THROTTLE_ANON="5/s",
        HUB_PROXY_COUNT="1",
        REDIS_URL="redis://127.0.0.1:6379/0",
    )
    assert values["SECURE_SSL_REDIRECT"] is False
    assert values["SECURE_HSTS_SECONDS"] == 600
    assert values["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert values["SECURE_HSTS_PRELOAD"] is True
    assert values["AXES_FAILURE_LIMIT"] == 3
    assert values["AXES_COOLOFF_TIME"] == "0:02:00"
    rest = values["REST_FRAMEWORK"]
    assert rest["DEFAULT_THROTTLE_RATES"] == {"user": "100/hour", "anon": "5/s"}
    assert rest["NUM_PROXIES"] == 1
    # Every web process counts in the same Redis.
    assert values["CACHES"]["default"]["BACKEND"].endswith("RedisCache")
    assert values["CACHES"]["default"]["LOCATION"] == "redis://127.0.0.1:6379/0"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("HUB_API_THROTTLE_USER", "lots", "HUB_API_THROTTLE_USER must be a number of requests"),
        ("HUB_API_THROTTLE_ANON", "0/min", "HUB_API_THROTTLE_ANON must be a number of requests"),
        ("HUB_HTTPS", "maybe", "HUB_HTTPS must be true or false"),
        ("HUB_LOGIN_FAILURE_LIMIT", "0", "HUB_LOGIN_FAILURE_LIMIT must be at least 1"),
        ("HUB_PROXY_COUNT", "-1", "HUB_PROXY_COUNT must be at least 0"),
    ],
)
def test_a_wrong_value_stops_the_start_naming_the_variable(tmp_path, name, value, message):
    env = clean_env(tmp_path, SECRET_KEY="settings-test-" + "x" * 50, **{name: value})
    result = run_python("import django; django.setup()", env)
    assert result.returncode != 0
    assert message in result.stderr
