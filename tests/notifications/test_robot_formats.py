"""DingTalk, Feishu/Lark, WeCom and Telegram: the requests Apprise builds for them, sent
through the hub's delivery path to a local receiver, and the targets Apprise's own
URL parsing accepts and refuses.

Apprise sends these to fixed hosts (oapi.dingtalk.com, open.feishu.cn, ...); the
tests point the plugin's API base at the receiver (its `notify_url`), so the body,
query, signature and path Apprise builds for the real service are what arrives.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from apprise.plugins.dingtalk import NotifyDingTalk
from apprise.plugins.feishu import NotifyFeishu
from apprise.plugins.lark import NotifyLark
from apprise.plugins.telegram import NotifyTelegram
from apprise.plugins.wecombot import NotifyWeComBot
from django.core.exceptions import ValidationError

from tests.notifications.conftest import make_channel
from xiaozhi_hub.notifications.message import Notification
from xiaozhi_hub.notifications.models import NotificationChannel
from xiaozhi_hub.notifications.services import channel_deliver

pytestmark = pytest.mark.django_db

DING_TOKEN = "d1n9t0ken5ecret0000aaaa1111bbbb2222cccc3333dddd4444eeee5555ffff66"
DING_SECRET = "SEC0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"
FEISHU_TOKEN = "f3150000-aaaa-bbbb-cccc-5ecret0f3150"
WECOM_KEY = "693a91f6-7aaa-4bc4-97a0-5ecretwec0m1"
TELEGRAM_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
TELEGRAM_CHAT = "-1001234567890"
SECRETS = (DING_TOKEN, DING_SECRET, FEISHU_TOKEN, WECOM_KEY, TELEGRAM_TOKEN)

FIRING = Notification(
    event="firing",
    key="alert:42",
    severity="critical",
    title={"en": "Endpoint relay is down", "zh-hans": "接入点 relay 已断开"},
    body={"en": "No answer for 5 minutes.", "zh-hans": "已有 5 分钟没有响应。"},
    url="/console/",
)


def delivered_text(received) -> str:
    return received.body.decode()


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def test_dingtalk_signed_robot_gets_a_signed_text_message_in_chinese(receiver, monkeypatch):
    monkeypatch.setattr(
        NotifyDingTalk, "notify_url", receiver.url("/robot/send?access_token={token}")
    )
    channel = make_channel(
        "钉钉",
        "dingtalk",
        {
            "url": f"https://oapi.dingtalk.com/robot/send?access_token={DING_TOKEN}",
            "secret": DING_SECRET,
        },
        language="zh-hans",
    )
    assert channel_deliver(channel_id=channel.pk, notification=FIRING)

    (request,) = receiver.wait_for(1)
    assert request.path == "/robot/send"
    assert request.query["access_token"] == [DING_TOKEN]
    # 加签: sign = base64(HMAC-SHA256(secret, "timestamp\nsecret")), as DingTalk checks it.
    timestamp = request.query["timestamp"][0]
    expected = base64.b64encode(
        hmac.new(
            DING_SECRET.encode(), f"{timestamp}\n{DING_SECRET}".encode(), hashlib.sha256
        ).digest()
    ).decode()
    assert request.query["sign"] == [expected]
    payload = request.json()
    assert payload["msgtype"] == "text"
    content = payload["text"]["content"]
    assert "[告警 · 严重] 接入点 relay 已断开" in content
    assert "已有 5 分钟没有响应。" in content and "详情: /console/" in content
    assert_no_secret(json.dumps(payload, ensure_ascii=False))
    channel.refresh_from_db()
    assert channel.last_success_at is not None and channel.consecutive_failures == 0


@pytest.mark.parametrize(
    ("site", "plugin", "api"),
    [
        ("open.feishu.cn", NotifyFeishu, "/open-apis/bot/v2/hook/{token}/"),
        ("open.larksuite.com", NotifyLark, "/open-apis/bot/v2/hook/"),
    ],
)
def test_feishu_and_lark_bots_get_text_in_english(receiver, monkeypatch, site, plugin, api):
    monkeypatch.setattr(plugin, "notify_url", receiver.url(api))
    channel = make_channel(
        "feishu",
        "feishu",
        {"url": f"https://{site}/open-apis/bot/v2/hook/{FEISHU_TOKEN}"},
        language="en",
    )
    assert channel_deliver(channel_id=channel.pk, notification=FIRING)

    (request,) = receiver.wait_for(1)
    assert request.path == f"/open-apis/bot/v2/hook/{FEISHU_TOKEN}".rstrip("/") or request.path
    assert request.path.rstrip("/") == f"/open-apis/bot/v2/hook/{FEISHU_TOKEN}"
    payload = request.json()
    assert payload["msg_type"] == "text"
    text = payload["content"]["text"]
    assert "[Firing · Critical] Endpoint relay is down" in text
    assert "No answer for 5 minutes." in text
    assert "接入点" not in text
    assert_no_secret(json.dumps(payload, ensure_ascii=False))


def test_wecom_group_robot_gets_text_by_its_key(receiver, monkeypatch):
    monkeypatch.setattr(
        NotifyWeComBot, "notify_url", receiver.url("/cgi-bin/webhook/send?key={key}")
    )
    channel = make_channel(
        "wecom",
        "wecom",
        {"url": f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={WECOM_KEY}"},
        language="zh-hans",
    )
    assert channel_deliver(channel_id=channel.pk, notification=FIRING)

    (request,) = receiver.wait_for(1)
    assert request.path == "/cgi-bin/webhook/send"
    assert request.query["key"] == [WECOM_KEY]
    payload = request.json()
    assert payload["msgtype"] == "text"
    assert "接入点 relay 已断开" in payload["text"]["content"]
    assert_no_secret(json.dumps(payload, ensure_ascii=False))


def test_telegram_bot_sends_to_the_chat(receiver, monkeypatch):
    monkeypatch.setattr(NotifyTelegram, "notify_url", receiver.url("/bot"))
    receiver.answer = {"ok": True, "result": {"message_id": 1}}
    channel = make_channel(
        "telegram",
        "telegram",
        {"bot_token": TELEGRAM_TOKEN, "chat_id": TELEGRAM_CHAT},
        language="zh-hans",
    )
    assert channel_deliver(channel_id=channel.pk, notification=FIRING)

    (request,) = receiver.wait_for(1)
    assert request.path == f"/bot{TELEGRAM_TOKEN}/sendMessage"
    payload = request.json()
    assert str(payload["chat_id"]) == TELEGRAM_CHAT
    assert "接入点 relay 已断开" in payload["text"] and "告警" in payload["text"]
    assert_no_secret(json.dumps(payload, ensure_ascii=False))


# --- what Apprise's URL parsing accepts and refuses ----------------------------------

ACCEPTED = [
    ("dingtalk", {"url": f"https://oapi.dingtalk.com/robot/send?access_token={DING_TOKEN}"}),
    ("dingtalk", {"url": DING_TOKEN, "secret": DING_SECRET}),
    ("feishu", {"url": f"https://open.feishu.cn/open-apis/bot/v2/hook/{FEISHU_TOKEN}"}),
    ("feishu", {"url": f"https://open.larksuite.com/open-apis/bot/v2/hook/{FEISHU_TOKEN}"}),
    ("wecom", {"url": f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={WECOM_KEY}"}),
    ("wecom", {"url": WECOM_KEY}),
    ("telegram", {"bot_token": TELEGRAM_TOKEN, "chat_id": TELEGRAM_CHAT}),
    ("telegram", {"bot_token": f"bot{TELEGRAM_TOKEN}", "chat_id": "@hub_alerts"}),
    ("apprise", {"url": "discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js"}),
    ("webhook", {"url": "https://hooks.example.com/hub?token=abc"}),
    ("email", {"recipients": ["ops@example.com", "duty+hub@example.cn"]}),
]

REFUSED = [
    ("dingtalk", {"url": "https://oapi.dingtalk.com/robot/send?access_token=bad token!"}, "url"),
    ("dingtalk", {"url": DING_TOKEN, "secret": "SEC-not/valid+secret"}, "secret"),
    ("feishu", {"url": "https://open.feishu.cn/open-apis/bot/v2/hook/s3cr3t?x"}, "url"),
    ("wecom", {"url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=s3 cr3t"}, "url"),
    ("telegram", {"bot_token": "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", "chat_id": "1"}, "bot_token"),
    ("telegram", {"bot_token": TELEGRAM_TOKEN, "chat_id": "not a chat!"}, "chat_id"),
    ("telegram", {"bot_token": TELEGRAM_TOKEN}, "chat_id"),
    ("apprise", {"url": "nosuchservice://s3cr3t-value"}, "url"),
    ("webhook", {"url": "ftp://hooks.example.com/s3cr3t-value"}, "url"),
    ("email", {"recipients": ["not-an-address"]}, "recipients"),
]


@pytest.mark.parametrize(("kind", "target"), ACCEPTED, ids=[k for k, _ in ACCEPTED])
def test_real_shaped_targets_are_accepted(kind, target):
    NotificationChannel(name="ok", kind=kind, target=target).full_clean()


@pytest.mark.parametrize(("kind", "target", "field"), REFUSED, ids=[k for k, _, _ in REFUSED])
def test_malformed_targets_are_refused_naming_the_field_not_the_value(kind, target, field):
    with pytest.raises(ValidationError) as refused:
        NotificationChannel(name="bad", kind=kind, target=target).full_clean()
    errors = refused.value.message_dict
    assert list(errors) == [field]
    text = json.dumps(errors, ensure_ascii=False)
    for value in target.values():
        for part in value if isinstance(value, list) else [value]:
            assert part not in text
