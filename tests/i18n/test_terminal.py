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
