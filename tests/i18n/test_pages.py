"""The interface in Chinese: the browser's Accept-Language picks it, the header's switch
overrides it, and no English message of the catalogs is left on a rendered page."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from chathistory.models import Device
from tests.console.helpers import REPORT_SECRET, ingest
from tests.i18n.catalog import untranslated_on, visible_text, visible_texts

pytestmark = pytest.mark.django_db

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9,en;q=0.5"}
MAC = "aa:bb:cc:00:00:15"

# Each page, with a word of its Chinese interface that must be there.
CONSOLE_PAGES = {
    "/console/": "仪表盘",
    "/console/devices/": "设备",
    "/console/sync/": "同步",
    "/console/devices/{pk}/": "设备",
}
ADMIN_PAGES = {
    "/admin/": "管理后台",
    "/admin/chathistory/chatmessage/": "聊天消息",
    "/admin/chathistory/device/": "设备",
    "/admin/chathistory/syncrun/": "同步",
    "/admin/alerts/alert/": "告警",
    "/admin/alerts/alertrule/add/": "告警规则",
    "/admin/notifications/notificationchannel/": "通知渠道",
    "/admin/notifications/notificationchannel/add/": "通知渠道",
    "/admin/endpoints/endpoint/": "接入点",
    "/admin/django_celery_beat/periodictask/add/": "周期",
}


@pytest.fixture
def world(settings):
    settings.HUB_REPORT_SECRET = REPORT_SECRET
    ingest(MAC, "你好", session="i18n-session")
    return {"pk": Device.objects.get(mac=MAC).pk}


def check_chinese(response, word: str, *, data: frozenset = frozenset()) -> None:
    """`data`: texts the operator's data holds (names), shown as they are stored."""
    assert response.status_code == 200, response.status_code
    html = response.content.decode()
    assert '<html lang="zh-hans"' in html
    text = visible_text(html)
    assert word in text, text[:2000]
    left = [m for m in untranslated_on(visible_texts(html)) if m not in data]
    assert not left, (
        f"English messages of the catalog left on {response.request['PATH_INFO']}: {left}"
    )


@pytest.mark.parametrize("path", [*CONSOLE_PAGES, *ADMIN_PAGES])
def test_each_page_renders_in_chinese_for_a_browser_asking_for_it(admin_client, world, path):
    from xiaozhi_hub.alerts.models import AlertRule

    word = {**CONSOLE_PAGES, **ADMIN_PAGES}[path]
    response = admin_client.get(path.format(**world), **ZH)
    # The default alert rules (the alerts migration's rows) are named in English.
    rule_names = frozenset(AlertRule.objects.values_list("name", flat=True))
    check_chinese(response, word, data=rule_names)


def test_the_login_page_is_chinese_with_the_switch():
    response = Client().get("/admin/login/", **ZH)
    check_chinese(response, "用户名")
    html = response.content.decode()
    assert 'action="/i18n/setlang/"' in html and 'name="csrfmiddlewaretoken"' in html
    assert '<option value="zh-hans" lang="zh-hans" selected>简体中文</option>' in html


def test_english_stays_the_default():
    html = Client().get("/admin/login/").content.decode()
    assert '<html lang="en"' in html
    assert '<option value="en" lang="en" selected>English</option>' in html


def test_the_switch_overrides_the_browsers_language(admin_client):
    # Chinese chosen in the header: pages are Chinese for an English browser...
    answer = admin_client.post(
        reverse("set_language"), {"language": "zh-hans", "next": "/console/"}
    )
    assert answer.status_code == 302 and answer["Location"] == "/console/"
    assert admin_client.cookies["django_language"].value == "zh-hans"
    page = admin_client.get("/console/", HTTP_ACCEPT_LANGUAGE="en-US,en")
    check_chinese(page, "仪表盘")
    # ...and English chosen: English for a Chinese one.
    admin_client.post(reverse("set_language"), {"language": "en", "next": "/console/"})
    html = admin_client.get("/console/", **ZH).content.decode()
    assert '<html lang="en"' in html and "Dashboard" in html and "仪表盘" not in html


def test_the_page_tells_its_scripts_the_time_zone_and_loads_the_catalog_first(
    admin_client, settings
):
    settings.TIME_ZONE = "Asia/Shanghai"
    html = admin_client.get("/console/", **ZH).content.decode()
    assert '<meta name="hub-time-zone" content="Asia/Shanghai">' in html
    catalog = html.index('<script src="/jsi18n/">')
    assert catalog < html.index('type="module"')
    admin_html = admin_client.get("/admin/chathistory/chatmessage/").content.decode()
    assert '<script src="/jsi18n/">' in admin_html


def test_the_javascript_catalog_is_public_and_has_the_consoles_messages():
    chinese = Client().get("/jsi18n/", **ZH)
    assert chinese.status_code == 200
    assert chinese["Content-Type"].startswith("text/javascript")
    body = chinese.content.decode()
    # The console's messages (djangojs.po) with their translations, JSON-escaped.
    assert '"Reconnect": ' + json.dumps("重连") in body
    english = Client().get("/jsi18n/").content.decode()
    assert "Reconnect" not in english  # English needs no catalog: the msgids are the text


# --- hostile input to the two public routes ---------------------------------------


@pytest.mark.parametrize(
    "language", ["xx", "", "zh-hans\r\nSet-Cookie: x=1", "../../etc/passwd", "é" * 500]
)
def test_set_language_refuses_an_unknown_language(language):
    client = Client()
    answer = client.post(reverse("set_language"), {"language": language, "next": "/admin/"})
    assert answer.status_code == 302
    assert "django_language" not in answer.cookies


@pytest.mark.parametrize(
    "next_url",
    ["https://evil.example/", "//evil.example/", "javascript:alert(1)", "/\\evil.example"],
)
def test_set_language_never_redirects_off_site(next_url):
    answer = Client().post(reverse("set_language"), {"language": "zh-hans", "next": next_url})
    assert answer.status_code == 302
    assert answer["Location"] == "/"


def test_set_language_checks_csrf():
    client = Client(enforce_csrf_checks=True)
    answer = client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    assert answer.status_code == 403


@pytest.mark.parametrize(
    "query", ["?language=../../x", "?packages=django.conf%00", "?domain=nope", "?x=" + "a" * 4000]
)
def test_the_javascript_catalog_ignores_odd_queries(query):
    answer = Client().get("/jsi18n/" + query)
    assert answer.status_code == 200


def test_the_rest_api_answers_in_english_whatever_the_clients_language():
    # DRF ships Chinese for its errors: the API keeps them English for scripts.
    answer = Client().get("/api/status", **ZH)
    assert answer.status_code == 401
    assert answer.json() == {"detail": "Authentication credentials were not provided."}
    assert Client().get("/api/no/such/route", **ZH).status_code == 404
    report = Client().post("/xiaozhi/agent/chat-history/report", {}, **ZH)
    assert report.status_code in (401, 403, 503) and "身份" not in report.content.decode()


def test_a_bad_url_is_refused_in_the_pages_language_and_in_english_over_rest(admin_client):
    from tests.services import api_token

    token = "zh-url-secret-token"
    url = f"http://example.com/mcp?token={token}"
    form = {"name": "坏地址", "url": url, "enabled": "on", "health_check_enabled": "on"}
    response = admin_client.post("/admin/endpoints/endpoint/add/", form, **ZH)
    html = response.content.decode()
    assert response.status_code == 200 and "不是 ws:// 或 wss:// URL" in html
    assert token not in html
    user = admin_client.get("/admin/").wsgi_request.user
    answer = Client().post(
        "/api/endpoints",
        {"name": "bad", "url": url},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {api_token(user)}",
        **ZH,
    )
    assert answer.status_code == 400 and "not a ws:// or wss:// URL" in answer.content.decode()
    assert token not in answer.content.decode()
