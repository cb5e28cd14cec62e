"""Security headers and the Content-Security-Policy on every kind of page."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from tests.services import api_token

pytestmark = pytest.mark.django_db

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
PAGES = ["/console/", "/console/devices/", "/console/sync/", "/admin/", "/admin/auth/user/"]


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_user(
        "root", password="pw", is_staff=True, is_superuser=True
    )


def policy(response) -> dict[str, list[str]]:
    directives = (part.split() for part in response["Content-Security-Policy"].split(";"))
    return {words[0]: words[1:] for words in directives if words}


def assert_protected(response):
    for name, value in HEADERS.items():
        assert response[name] == value, (name, response.get(name))
    directives = policy(response)
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval'
    assert directives["style-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["object-src"] == ["'none'"]


@pytest.mark.parametrize("path", PAGES)
def test_console_and_admin_pages_carry_the_headers(client, superuser, path):
    client.force_login(superuser)
    response = client.get(path)
    assert response.status_code == 200
    assert_protected(response)


def test_the_login_page_and_api_answers_carry_them_too(client, superuser):
    assert_protected(client.get("/admin/login/"))
    assert_protected(client.get("/api/health"))
    token = api_token(superuser)
    answer = client.get("/api/v2/sync/status", HTTP_AUTHORIZATION=f"Token {token}")
    assert answer.status_code == 200  # the token still works with django-axes in front
    assert_protected(answer)
    assert_protected(client.get("/api/v2/sync/status"))  # and a refusal


class InlineCode(HTMLParser):
    """What a CSP without 'unsafe-inline' blocks: inline scripts, on* handlers, style=."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []
        self._in_inline_script = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for name in attributes:
            if name.startswith("on") or name == "style":
                self.found.append(f"<{tag} {name}=...>")
        if tag == "style":
            self.found.append("<style>")
        script_is_data = attributes.get("type") in ("application/json", "application/ld+json")
        self._in_inline_script = tag == "script" and "src" not in attributes and not script_is_data

    def handle_data(self, data):
        if self._in_inline_script and data.strip():
            self.found.append(f"<script>{data.strip()[:60]}")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_inline_script = False


@pytest.mark.parametrize("path", PAGES)
def test_pages_hold_no_inline_code_the_policy_would_block(client, superuser, path):
    client.force_login(superuser)
    parser = InlineCode()
    parser.feed(client.get(path).text)
    assert parser.found == []


def test_the_checker_finds_inline_code():
    parser = InlineCode()
    parser.feed(
        '<script>alert(1)</script><a onclick="x()">a</a><p style="color:red">p</p>'
        '<script id="c" type="application/json">{"a": 1}</script><script src="/s.js"></script>'
    )
    assert parser.found == ["<script>alert(1)", "<a onclick=...>", "<p style=...>"]
