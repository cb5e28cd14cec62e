"""Email channels: Django's mail settings, a real SMTP server (aiosmtpd), Chinese intact."""

from __future__ import annotations

import pytest

from tests.notifications.conftest import make_channel
from xiaozhi_hub.notifications.message import Notification
from xiaozhi_hub.notifications.models import NotificationChannel
from xiaozhi_hub.notifications.senders import DeliveryError
from xiaozhi_hub.notifications.services import channel_deliver

pytestmark = pytest.mark.django_db

RESOLVED = Notification(
    event="resolved",
    key="alert:9",
    severity="critical",
    title={"en": "Chat sync is back", "zh-hans": "聊天记录同步已恢复"},
    body={"en": "The last 3 runs succeeded.", "zh-hans": "最近 3 次同步均已成功。"},
    url="/console/sync/",
)


def test_an_email_channel_sends_the_chinese_text_through_smtp(smtp_server, settings):
    settings.HUB_PUBLIC_URL = "https://hub.example.com"
    channel = make_channel(
        "值班邮箱", "email", {"recipients": ["ops@example.com", "duty@example.cn"]}
    )
    assert channel_deliver(channel_id=channel.pk, notification=RESOLVED)

    ((recipients, message),) = smtp_server.messages
    assert sorted(recipients) == ["duty@example.cn", "ops@example.com"]
    assert message["From"] == "hub@example.com"
    assert message["Subject"].strip() == "[已恢复 · 严重] 聊天记录同步已恢复"  # folded
    text = message.get_content()
    assert "最近 3 次同步均已成功。" in text
    assert "详情: https://hub.example.com/console/sync/" in text
    channel.refresh_from_db()
    assert channel.last_success_at is not None


def test_an_unreachable_mail_server_is_a_recorded_failure(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 9  # nothing listens (discard)
    channel = make_channel("mail", "email", {"recipients": ["ops@example.com"]}, language="en")
    with pytest.raises(DeliveryError, match="email could not be sent: ConnectionRefusedError"):
        channel_deliver(channel_id=channel.pk, notification=RESOLVED)
    channel = NotificationChannel.objects.get()
    assert channel.consecutive_failures == 1 and "ConnectionRefusedError" in channel.last_error
