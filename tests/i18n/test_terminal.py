"""Management commands answer in the language of the person's terminal."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from xiaozhi_hub.terminal_language import LOCALE_VARIABLES, terminal_language


@pytest.mark.parametrize(
    ("environ", "language"),
    [
        ({"LANG": "zh_CN.UTF-8"}, "zh-hans"),
        ({"LANGUAGE": "zh_CN:en_US", "LANG": "en_US.UTF-8"}, "zh-hans"),
        ({"LC_ALL": "en_US.UTF-8", "LANG": "zh_CN.UTF-8"}, "en"),
        ({"LANG": "C.UTF-8"}, None),
        ({"LANG": "POSIX"}, None),
        ({"LANG": "fr_FR.UTF-8"}, None),
        ({"LANG": "../../etc\x00"}, None),
        ({}, None),
    ],
)
def test_the_terminal_language_is_read_as_gettext_reads_it(environ, language):
    assert terminal_language(environ) == language


@pytest.mark.django_db
def test_a_command_speaks_chinese_in_a_chinese_terminal(monkeypatch):
    for name in LOCALE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    english = StringIO()
    call_command("chat_stats", stdout=english)
    assert "busiest devices:" in english.getvalue()

    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    chinese = StringIO()
    call_command("chat_stats", stdout=chinese)
    assert "最活跃的设备：" in chinese.getvalue()
    assert "busiest devices" not in chinese.getvalue()


@pytest.mark.django_db
def test_api_token_speaks_the_terminals_language_and_keeps_the_key_alone(monkeypatch):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user("lan", password="x")
    for name in LOCALE_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    key, notice = StringIO(), StringIO()
    call_command("api_token", "create", "lan", stdout=key, stderr=notice)
    assert len(key.getvalue().split()) == 1  # scripts capture the key alone
    assert "请立即保存此密钥" in notice.getvalue()
    listing = StringIO()
    call_command("api_token", "list", "lan", stdout=listing)
    assert "创建于" in listing.getvalue() and "created" not in listing.getvalue()
    revoked = StringIO()
    call_command("api_token", "revoke", "lan", "--all", stdout=revoked)
    assert revoked.getvalue().strip() == "已吊销 lan 的 1 个令牌。"
