"""Names of aggregated tools: `<server>__<tool>`, split back on the first `__`.

MCP clients (and the LLM APIs behind xiaozhi) accept tool names made of
letters, digits, `_` and `-`, at most 64 characters. Server names are
validated to that alphabet without `__` (so the split is unambiguous); tool
names from upstreams are sanitised, which can make two tools collide: the
caller reports collisions instead of letting one shadow the other.
"""

from __future__ import annotations

import hashlib
import re

SEPARATOR = "__"
MAX_NAME = 64
MAX_SERVER_NAME = 32
SERVER_NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]|_(?!_))*$")
RESERVED_SERVER_NAMES = frozenset({"hub"})  # the hub's own tools (hub__status, hub__echo)
# Namespaces of the extra tools registered at start-up (endpoints/worker/extra_tools.py,
# e.g. "history" for history__recent): no upstream server may take them either.
_reserved_extra: set[str] = set()
_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_-]")


def server_name_problem(name: str) -> str | None:
    """Why `name` can't name an MCP server, or None when it can."""
    if not name:
        return "the server name is empty"
    if len(name) > MAX_SERVER_NAME:
        return f"the server name is longer than {MAX_SERVER_NAME} characters"
    if not SERVER_NAME_RE.match(name) or name.endswith("_"):
        return (
            "the server name may hold only letters, digits, '-' and single '_' "
            "(not '__', which separates server and tool), and must start with a letter or digit"
        )
    if name.lower() in RESERVED_SERVER_NAMES or name.lower() in _reserved_extra:
        return f"the server name {name!r} is reserved for the hub's own tools"
    return None


def reserve_server_name(name: str) -> None:
    """Keep `name` for the hub's own tools (an extra-tool provider's namespace)."""
    _reserved_extra.add(name.lower())


def exposed_name(server: str, tool: str) -> str:
    """The name endpoints see for upstream `tool` of `server`."""
    cleaned = _NOT_ALLOWED.sub("_", tool) or "_"
    name = f"{server}{SEPARATOR}{cleaned}"
    if len(name) > MAX_NAME:
        # Keep it unique and stable: a short hash of the full upstream name.
        digest = hashlib.sha1(tool.encode()).hexdigest()[:8]
        name = f"{name[: MAX_NAME - 9]}_{digest}"
    return name


def split_exposed(name: str) -> tuple[str, str] | None:
    """(server, tool part) of an exposed name, or None when it has no `__`."""
    server, sep, tool = name.partition(SEPARATOR)
    if not sep or not server or not tool:
        return None
    return server, tool
