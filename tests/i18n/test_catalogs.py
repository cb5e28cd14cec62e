"""The zh_Hans catalogs are complete: every msgid translated, none fuzzy, placeholders kept.

Update them with `manage.py makemessages -l zh_Hans` (both domains, see docs/console.md,
"Language and time zone"); `make setup` compiles them.
"""

from __future__ import annotations

import re

import pytest

from tests.i18n.catalog import DOMAINS, entries

PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


@pytest.mark.parametrize("domain", DOMAINS)
def test_every_msgid_is_translated_and_none_is_fuzzy(domain):
    missing = []
    for entry in entries(domain):
        texts = entry.msgstr_plural.values() if entry.msgid_plural else [entry.msgstr]
        if "fuzzy" in entry.flags or not all(texts):
            missing.append(entry.msgid)
    assert not missing, f"{len(missing)} msgids of {domain}.po untranslated or fuzzy: {missing}"


@pytest.mark.parametrize("domain", DOMAINS)
def test_translations_keep_the_placeholders(domain):
    wrong = []
    for entry in entries(domain):
        texts = entry.msgstr_plural.values() if entry.msgid_plural else [entry.msgstr]
        wanted = set(PLACEHOLDER.findall(entry.msgid)) | set(
            PLACEHOLDER.findall(entry.msgid_plural or "")
        )
        for text in texts:
            if text and not set(PLACEHOLDER.findall(text)) <= wanted:
                wrong.append((entry.msgid, text))
    assert not wrong, wrong
