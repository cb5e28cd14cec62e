"""The admin of the channels: targets written once and never shown (nor stored in clear),
bad targets refused by field, and "Send test notification" end to end to a real
receiver, as an action and as the change page's button; viewers may not send one."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.db import connection

from tests.notifications.conftest import make_channel
from xiaozhi_hub.access import roles
from xiaozhi_hub.notifications.models import NotificationChannel

pytestmark = pytest.mark.django_db

TOKEN = "S3cretHookToken0123456789"
DING_TOKEN = "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
DING_SECRET = "SEC00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
CHANGELIST = "/admin/notifications/notificationchannel/"


def add_form(**fields) -> dict:
    return {
        "name": "ops",
        "kind": "dingtalk",
        "enabled": "on",
        "language": "zh-hans",
        "min_severity": "warning",
        **fields,
    }


def stored_column() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT target FROM notifications_notificationchannel")
        return " ".join(row[0] for row in cursor.fetchall())


def test_a_channel_added_in_the_admin_is_encrypted_at_rest_and_never_shown(superuser_client):
    response = superuser_client.post(
        f"{CHANGELIST}add/",
        add_form(
            url=f"https://oapi.dingtalk.com/robot/send?access_token={DING_TOKEN}",
            secret=DING_SECRET,
        ),
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    channel = NotificationChannel.objects.get()
    assert channel.target["secret"] == DING_SECRET

    # Plain SQL sees a Fernet token, not the robot's token or secret.
    raw = stored_column()
    assert raw.startswith("gAAAA")
    assert DING_TOKEN not in raw and DING_SECRET not in raw

    for page in (CHANGELIST, f"{CHANGELIST}{channel.pk}/change/"):
        html = superuser_client.get(page).content.decode()
        assert "DingTalk robot access_token=***, 加签 secret ***" in html
        assert DING_TOKEN not in html and DING_SECRET not in html

    # Saving again with the inputs blank keeps both.
    response = superuser_client.post(
        f"{CHANGELIST}{channel.pk}/change/", add_form(language="en", url="", secret="")
    )
    assert response.status_code == 302
    channel.refresh_from_db()
    assert channel.language == "en"
    assert channel.target == {
        "url": f"https://oapi.dingtalk.com/robot/send?access_token={DING_TOKEN}",
        "secret": DING_SECRET,
    }


def test_a_malformed_robot_url_is_refused_on_its_field_without_echoing_it(superuser_client):
    bad = "https://oapi.dingtalk.com/robot/send?access_token=Not-A+Valid/Token"
    response = superuser_client.post(f"{CHANGELIST}add/", add_form(url=bad))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Not valid: expected the robot&#x27;s Webhook URL" in html
    assert "Not-A+Valid" not in html and "Valid/Token" not in html
    assert not NotificationChannel.objects.exists()

    response = superuser_client.post(f"{CHANGELIST}add/", add_form(kind="telegram"))
    html = response.content.decode()
    assert "Required for this kind: the bot token from @BotFather" in html
    assert not NotificationChannel.objects.exists()


def test_send_test_action_delivers_a_test_event_and_reports_it(superuser_client, receiver):
    channel = make_channel("hook", "webhook", {"url": receiver.url(f"/hook?token={TOKEN}")})
    response = superuser_client.post(
        CHANGELIST,
        {"action": "send_test_notification", "_selected_action": [channel.pk]},
        follow=True,
    )
    assert "Test notification delivered to “hook”." in response.content.decode()
    (request,) = receiver.wait_for(1)
    payload = request.json()
    assert payload["event"] == "test" and payload["key"] == f"test:{channel.pk}"
    assert payload["severity"] == "info" and payload["language"] == "zh-hans"
    assert payload["title"] == "来自 xiaozhi-hub 的测试通知"
    assert payload["url"] == f"{CHANGELIST}{channel.pk}/change/"
    channel.refresh_from_db()
    assert channel.last_success_at is not None and channel.last_failure_at is None


def test_the_change_page_button_reports_a_failure_with_the_secret_masked(
    superuser_client, receiver
):
    # The receiver echoes the token in its reason phrase, as some APIs do in errors.
    receiver.statuses, receiver.reason = [500], f"bad token {TOKEN}"
    channel = make_channel("hook", "webhook", {"url": receiver.url(f"/hook/{TOKEN}")})
    page = f"{CHANGELIST}{channel.pk}/change/"
    assert f'action="{CHANGELIST}{channel.pk}/test/"' in superuser_client.get(page).content.decode()

    response = superuser_client.post(f"{CHANGELIST}{channel.pk}/test/", follow=True)
    assert response.redirect_chain == [(page, 302)]
    html = response.content.decode()
    assert "Test notification to “hook” failed: the webhook answered HTTP 500 bad token ***" in html
    assert TOKEN not in html
    channel.refresh_from_db()
    assert channel.consecutive_failures == 1 and channel.last_error.endswith("bad token ***")
    assert TOKEN not in superuser_client.get(CHANGELIST).content.decode()


def test_viewers_see_the_masked_target_but_may_not_test_or_edit(client, django_user_model):
    channel = make_channel("hook", "webhook", {"url": f"https://hooks.example.com/{TOKEN}"})
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.groups.add(Group.objects.get(name=roles.VIEWERS))
    client.force_login(viewer)

    html = client.get(f"{CHANGELIST}{channel.pk}/change/").content.decode()
    assert "https://hooks.example.com/***" in html
    assert TOKEN not in html
    assert 'name="url"' not in html and "/test/" not in html
    assert client.post(f"{CHANGELIST}{channel.pk}/test/").status_code == 403
    response = client.post(
        CHANGELIST, {"action": "send_test_notification", "_selected_action": [channel.pk]}
    )
    assert response.status_code in (200, 302)
    channel.refresh_from_db()
    assert channel.last_success_at is None and channel.last_failure_at is None


def test_the_roles_hold_the_channel_permissions():
    def held(role: str) -> set[str]:
        return set(
            Group.objects.get(name=role)
            .permissions.filter(content_type__app_label="notifications")
            .values_list("codename", flat=True)
        )

    assert held(roles.VIEWERS) == {"view_notificationchannel"}
    assert held(roles.OPERATORS) == {"view_notificationchannel"}
    assert held(roles.ADMINISTRATORS) == {
        f"{action}_notificationchannel" for action in ("add", "change", "delete", "view")
    }
