"""The hub's own translation catalogs (locale/zh_Hans/LC_MESSAGES/*.po), and the text
a person reads on a rendered page."""

from __future__ import annotations

import re
from functools import cache
from html.parser import HTMLParser

from tests.services import REPO

LOCALE = REPO / "locale" / "zh_Hans" / "LC_MESSAGES"
DOMAINS = ("django", "djangojs")
# Shorter msgids ("RTT", "p95", "OK") read the same in both languages.
SHORTEST_CHECKED = 4


@cache
def entries(domain: str) -> list:
    import polib

    return [entry for entry in polib.pofile(str(LOCALE / f"{domain}.po")) if not entry.obsolete]


def translated_msgids() -> dict[str, str]:
    """msgid -> its translation, for the msgids translated into something else.

    Plural entries give both their singular and plural forms; msgids holding a
    placeholder (%(name)s) are left out: only their parts would appear on a page.
    """
    found = {}
    for domain in DOMAINS:
        for entry in entries(domain):
            if "fuzzy" in entry.flags:
                continue
            if entry.msgid_plural:
                text = next(iter(entry.msgstr_plural.values()), "")
                texts = {entry.msgid: text, entry.msgid_plural: text}
            else:
                texts = {entry.msgid: entry.msgstr}
            for msgid, text in texts.items():
                if text and text != msgid and "%" not in msgid and len(msgid) >= SHORTEST_CHECKED:
                    found[msgid] = text
    return found


class _VisibleText(HTMLParser):
    """The text of a page a person sees or hears: element text, and the attributes
    read out (title, placeholder, aria-label, a button's value); no scripts. (Not `alt`:
    the hub has no images, and Django's admin writes its search icon's alt="Search"
    untranslated.)"""

    HIDDEN = {"script", "style", "template"}
    READ_ATTRIBUTES = {"title", "placeholder", "aria-label"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self.hidden += 1
        values = dict(attrs)
        for name in self.READ_ATTRIBUTES:
            if values.get(name):
                self.parts.append(values[name])
        if tag == "input" and values.get("type") in {"submit", "button"} and values.get("value"):
            self.parts.append(values["value"])

    def handle_endtag(self, tag):
        if tag in self.HIDDEN and self.hidden:
            self.hidden -= 1

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


def visible_texts(html: str) -> list[str]:
    """Each text node and read attribute of the page, whitespace collapsed."""
    parser = _VisibleText()
    parser.feed(html)
    return [text for part in parser.parts if (text := re.sub(r"\s+", " ", part).strip())]


def visible_text(html: str) -> str:
    return " ".join(visible_texts(html))


# A sentence of the catalog counts wherever it appears; a word or two only where it is the
# whole text of an element (a heading, a label, a button): "name" inside Django's own
# untranslated "Model name" is not the hub's field label left in English.
SENTENCE_WORDS = 3


def untranslated_on(texts: list[str]) -> list[str]:
    """The catalog's translated msgids a person would read in English among `texts`."""
    found = set()
    whole = {text.rstrip(":：").strip() for text in texts}
    joined = " ".join(texts)
    for msgid in translated_msgids():
        if msgid in whole:
            found.add(msgid)
        elif len(msgid.split()) >= SENTENCE_WORDS and re.search(
            rf"(?<!\w){re.escape(msgid)}(?!\w)", joined
        ):
            found.add(msgid)
    return sorted(found)
