"""The production profile over real HTTP: two daphne processes with HUB_HTTPS=true.

The proxy is played by the test: it sends X-Forwarded-Proto and X-Forwarded-For
as nginx would. Both processes share MariaDB and Redis, as two web replicas do.
"""

from __future__ import annotations

import http.client
import json
import secrets
from dataclasses import dataclass
from http.cookies import SimpleCookie

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher

from tests.console.helpers import REPORT_PATH, REPORT_SECRET, report_body
from tests.services import (
    REDIS_URL,
    api_token,
    bin_path,
    hub_database_url,
    hub_env,
    start_listening,
    stop,
)

pytestmark = [
    pytest.mark.requires_services("mysql", "redis"),
    pytest.mark.django_db(transaction=True),
]

USER_RATE = 4
ANON_RATE = 3
PASSWORD = "https-profile-" + secrets.token_hex(4)


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def cookies(self) -> dict[str, str]:
        """Each Set-Cookie line by cookie name."""
        lines = self.headers.get_all("Set-Cookie") or []
        return {line.split("=", 1)[0]: line for line in lines}


def call(port: int, method: str, path: str, *, https: bool = True, client: str = "", **kw):
    """One request as the TLS proxy forwards it (no redirect followed)."""
    headers = {"Host": f"127.0.0.1:{port}", **kw.pop("headers", {})}
    if https:
        headers["X-Forwarded-Proto"] = "https"
    if client:
        headers["X-Forwarded-For"] = client
    connection_ = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        connection_.request(method, path, headers=headers, **kw)
        response = connection_.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        connection_.close()


@pytest.fixture(scope="module")
def hubs(django_db_setup, django_db_blocker, tmp_path_factory):
    """Two web processes, as two replicas behind one proxy."""
    from django.conf import settings

    env = hub_env(
        DATABASE_URL=hub_database_url(),
        REDIS_URL=REDIS_URL,
        HUB_CHANNEL_PREFIX=settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
        HUB_REPORT_SECRET=REPORT_SECRET,
        ALLOWED_HOSTS="127.0.0.1",
        HUB_HTTPS="true",
        HUB_PROXY_COUNT="1",
        HUB_API_THROTTLE_USER=f"{USER_RATE}/min",
        HUB_API_THROTTLE_ANON=f"{ANON_RATE}/min",
    )
    logs = tmp_path_factory.mktemp("https-hubs")
    daphne = bin_path("daphne")
    command = [daphne, "-b", "127.0.0.1", "xiaozhi_hub.asgi:application"]
    processes = []
    for name in ("a", "b"):
        process, port = start_listening(
            lambda port: [*command[:3], "-p", str(port), command[3]],
            env,
            logs / f"daphne-{name}.log",
        )
        processes.append((process, port))
    yield [port for _, port in processes]
    for process, _ in processes:
        stop(process)


def fresh_address() -> str:
    return f"198.51.100.{secrets.randbelow(250) + 1}, 10.0.0.{secrets.randbelow(250) + 1}"


def test_login_over_https_sets_secure_httponly_samesite_cookies_and_hsts(hubs, django_user_model):
    port = hubs[0]
    # Hashed as the server's hashers can verify (the tests' own are a fast MD5).
    hasher = PBKDF2PasswordHasher()
    django_user_model.objects.create(
        username="root",
        password=hasher.encode(PASSWORD, hasher.salt(), iterations=1000),
        is_staff=True,
        is_superuser=True,
    )
    form = call(port, "GET", "/admin/login/")
    assert form.status == 200
    assert form.headers["Strict-Transport-Security"] == "max-age=31536000"
    csrf_line = form.cookies()["csrftoken"]
    assert "Secure" in csrf_line and "SameSite=Lax" in csrf_line
    token = SimpleCookie(csrf_line)["csrftoken"].value

    body = f"username=root&password={PASSWORD}&csrfmiddlewaretoken={token}&next=/admin/"
    answer = call(
        port,
        "POST",
        "/admin/login/",
        body=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={token}",
            "Origin": f"https://127.0.0.1:{port}",
        },
    )
    assert answer.status == 302, answer.body[:500]
    session_line = answer.cookies()["sessionid"]
    for attribute in ("Secure", "HttpOnly", "SameSite=Lax"):
        assert attribute in session_line, session_line


def test_plain_http_is_redirected_except_the_reports_and_the_health_check(hubs):
    port = hubs[0]
    answer = call(port, "GET", "/admin/", https=False)
    assert answer.status == 301
    assert answer.headers["Location"] == f"https://127.0.0.1:{port}/admin/"
    assert "Strict-Transport-Security" not in answer.headers  # never over plain HTTP

    health = call(port, "GET", "/api/health", https=False, client=fresh_address())
    assert health.status in (200, 503)  # answered, not redirected
    report = call(
        port,
        "POST",
        REPORT_PATH,
        https=False,
        body=json.dumps(report_body("aa:bb:cc:dd:ee:71", "你好")),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {REPORT_SECRET}"},
    )
    assert report.status == 200, report.body


def test_api_throttle_counts_a_token_across_both_processes_and_answers_429(hubs, django_user_model):
    user = django_user_model.objects.create_user("api", is_staff=True, is_superuser=True)
    auth = {"Authorization": f"Token {api_token(user)}"}
    for attempt in range(USER_RATE):
        answer = call(hubs[attempt % 2], "GET", "/api/v2/sync/status", headers=auth)
        assert answer.status == 200, answer.body
    throttled = call(hubs[0], "GET", "/api/v2/sync/status", headers=auth)
    assert throttled.status == 429
    assert 0 < int(throttled.headers["Retry-After"]) <= 60
    assert "throttled" in json.loads(throttled.body)["detail"]
    # Another user has a budget of their own.
    other = django_user_model.objects.create_user("other", is_staff=True, is_superuser=True)
    headers = {"Authorization": f"Token {api_token(other)}"}
    assert call(hubs[1], "GET", "/api/v2/sync/status", headers=headers).status == 200


def test_anonymous_api_use_is_throttled_per_forwarded_address(hubs):
    address = fresh_address()
    proxy_entry = address.split(", ")[1]
    for _ in range(ANON_RATE):
        assert call(hubs[0], "GET", "/api/health", client=address).status in (200, 503)
    assert call(hubs[1], "GET", "/api/health", client=address).status == 429
    # A made-up address in front of the proxy's entry changes nothing...
    forged = f"192.0.2.77, {proxy_entry}"
    assert call(hubs[0], "GET", "/api/health", client=forged).status == 429
    # ...while another client behind the proxy is counted apart.
    assert call(hubs[0], "GET", "/api/health", client=fresh_address()).status in (200, 503)


def test_the_cores_reports_are_never_throttled(hubs):
    address = fresh_address()
    for number in range(ANON_RATE * 3):
        answer = call(
            hubs[number % 2],
            "POST",
            REPORT_PATH,
            client=address,
            body=json.dumps(report_body("aa:bb:cc:dd:ee:72", f"第 {number} 条")),
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {REPORT_SECRET}",
            },
        )
        assert answer.status == 200, answer.body
