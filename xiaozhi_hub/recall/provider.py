"""The history tools as an extra-tool provider of the pool worker (endpoints/worker/extra_tools.py).

`load()` runs on the worker's database thread at every reconcile (and at once on a
`reload`, which services.py sends after every change), so an access row switched
on or off in the admin reaches the running peers without a restart: the
endpoints whose tool list changed get `notifications/tools/list_changed`.
A call reads on a database thread of its own (never on the event loop).
"""

from __future__ import annotations

from mcp import types

from endpoints.pool.registry import ToolNotFound
from endpoints.worker.db import DbThread

from . import selectors, tools
from .selectors import Scope


class HistoryToolProvider:
    namespace = tools.NAMESPACE

    def __init__(self) -> None:
        self._scopes: dict[int, Scope] = {}
        self._db: DbThread | None = None  # made at the first call (a worker process)

    # --- what decides the tools (the worker's reconcile) ---------------------------
    def load(self) -> dict[int, Scope]:
        return selectors.access_scopes()

    def apply(self, loaded: dict[int, Scope]) -> set[int]:
        before, self._scopes = set(self._scopes), dict(loaded)
        return before ^ set(loaded)  # the tools are the same for all: only who has them

    def tools_for(self, endpoint_id: int) -> list[types.Tool]:
        return list(tools.TOOLS) if endpoint_id in self._scopes else []

    # --- calls ------------------------------------------------------------------
    async def call_tool(self, endpoint_id: int, name: str, arguments: dict) -> types.CallToolResult:
        scope = self._scopes.get(endpoint_id)
        if scope is None or name not in tools.TOOL_NAMES:
            raise ToolNotFound(f"unknown tool {name!r}")
        tools.check_names(name, arguments)
        if self._db is None:
            self._db = DbThread("recall-db")
        if name == tools.RECENT:
            limit, capped = tools.limit_of(arguments, cap=scope.max_rows)
            device = tools.text_of(arguments, "device", most=tools.MAX_DEVICE, required=False)
            rows = await self._db.call(
                selectors.history_recent, scope=scope, limit=limit, device=device
            )
            return tools.answer(rows, max_chars=scope.max_chars, truncated=capped)
        if name == tools.SEARCH:
            query = tools.text_of(arguments, "query", most=tools.MAX_QUERY, required=True)
            since = tools.when_of(arguments, "since", end=False)
            until = tools.when_of(arguments, "until", end=True)
            if since is not None and until is not None and since >= until:
                return tools.error("since must come before until")
            limit, capped = tools.limit_of(arguments, cap=scope.max_rows)
            rows = await self._db.call(
                selectors.history_search,
                scope=scope,
                query=query,
                since=since,
                until=until,
                limit=limit,
            )
            return tools.answer(rows, max_chars=scope.max_chars, truncated=capped, query=query)
        session_id = tools.text_of(
            arguments, "session_id", most=tools.MAX_SESSION_ID, required=True
        )
        limit = min(tools.SESSION_ROWS, scope.max_rows * 2)
        rows, total = await self._db.call(
            selectors.history_session, scope=scope, session_id=session_id, limit=limit
        )
        if not total:
            return tools.error(f"no conversation {session_id!r} in this assistant's history")
        return tools.answer(
            rows,
            max_chars=scope.max_chars,
            truncated=total > len(rows),
            session=session_id,
            total=total,
        )
