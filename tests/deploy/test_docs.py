"""docs/deploy.md and docs/deploy.zh-CN.md: the same guide in two languages, links intact.

GitHub renders them; these checks keep what a reader clicks or copies from
rotting: relative links and in-page anchors resolve, the topology picture is a
well-formed SVG with its Chinese labels, and the two languages have the same
sections and the same number of commands.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.services import REPO

from .docs import DEPLOY_DOCS, fenced_block

SVG = REPO / "docs" / "deploy-topology.svg"
LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")


def headings(path: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    return re.findall(r"^(#{2,3}) ", text, re.M)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("path", DEPLOY_DOCS, ids=lambda path: path.name)
def test_links_and_anchors_resolve(path):
    text = path.read_text(encoding="utf-8")
    anchors = {slug(h) for h in re.findall(r"^#{1,6} (.+)$", text, re.M)}
    for target in (m["target"] for m in LINK.finditer(text)):
        if target.startswith(("http://", "https://")):
            continue
        file, _, anchor = target.partition("#")
        if file:
            assert (path.parent / file).exists(), f"{path.name}: {target}"
        else:
            assert anchor in anchors, f"{path.name}: no heading for #{anchor}"


def test_both_languages_have_the_same_sections_and_commands():
    english, chinese = DEPLOY_DOCS
    assert headings(english) == headings(chinese)
    count = [len(re.findall(r"^\s*```\w*$", p.read_text(), re.M)) for p in DEPLOY_DOCS]
    assert count[0] == count[1]
    # The compose override's commands are the same in both, word for word.
    for marker in ("docker compose -f docker-compose.yml -f docker-compose.esp32.yml up -d",):
        assert all(marker in path.read_text() for path in DEPLOY_DOCS)
    assert fenced_block(english, "read-only-user") == fenced_block(chinese, "read-only-user")


def test_the_topology_picture_is_well_formed_and_labelled_in_both_languages():
    root = ET.parse(SVG).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    text = " ".join(root.itertext())
    for name in (
        "xiaozhi-server_default",
        "xiaozhi-esp32-server-db",
        "xiaozhi-hub",
        "report-mirror",
    ):
        assert name in text
    assert "只读" in text and "聊天记录" in text
    for path in DEPLOY_DOCS:
        assert "](deploy-topology.svg)" in path.read_text()
