"""What the deployment guides say, read from the files so the docs are what is tested."""

from __future__ import annotations

import re

from tests.services import REPO

DEPLOY_DOCS = (REPO / "docs" / "deploy.md", REPO / "docs" / "deploy.zh-CN.md")


def fenced_block(path, marker: str) -> str:
    """The first fenced code block after `<!-- marker -->` in a doc."""
    text = path.read_text(encoding="utf-8")
    after = text.split(f"<!-- {marker} -->", 1)[1]
    match = re.search(r"```[a-z]*\n(.*?)```", after, re.S)
    assert match, f"no code block after <!-- {marker} --> in {path.name}"
    return match.group(1)


def read_only_user_sql() -> str:
    """The read-only user snippet, the same in both guides."""
    english, chinese = (fenced_block(path, "read-only-user") for path in DEPLOY_DOCS)
    assert english == chinese, "docs/deploy.md and docs/deploy.zh-CN.md differ in the snippet"
    return english
