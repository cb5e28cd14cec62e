"""Extra tools: tools the pool offers to SOME endpoints, registered from outside the app.

Every endpoint sees the same list (the builtin tools, the upstream servers' tools,
the custom tools: endpoints/upstreams/manager.py). An `ExtraToolProvider` adds
tools per endpoint: a composition app (one that may import other apps, e.g.
xiaozhi_hub/recall/ for the chat-history tools) registers one in its
`AppConfig.ready()` with `register_extra_tools(namespace, factory)`; endpoints
never imports it. Each pool worker makes its own provider from the factory.

A provider owns a namespace: its tools are named `<namespace>__<tool>`, and the
namespace is reserved as an MCP server name (endpoints/upstreams/naming.py), so no
upstream server can take those names.

The worker (service.py) wraps its registry in `ExtraToolsRegistry` and, on every
reconcile (HUB_POOL_RECONCILE_INTERVAL, and at once on a `reload` control
message: endpoints/pool_requests/reload.py), runs each provider's `load()` on its
database thread and hands the result to `apply()`; the endpoints whose tools
changed get `notifications/tools/list_changed`. So a change in the admin reaches
the running peers without a restart. `tools_for()` answers from what `apply()`
kept (no database in tools/list); `call_tool()` is async and must not block the
event loop (run ORM work on a thread).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from mcp import types

from endpoints.pool.registry import (
    ToolInvalidArguments,
    ToolNotFound,
    ToolRegistry,
    ToolTimeout,
    ToolUnavailable,
    calling_endpoint,
)
from endpoints.upstreams.naming import SEPARATOR, reserve_server_name
from endpoints.upstreams.records import CallRecord
from xiaozhi_hub.masking import mask_text

logger = logging.getLogger(__name__)


@runtime_checkable
class ExtraToolProvider(Protocol):
    namespace: str  # its tools are "<namespace>__<tool>"

    def load(self) -> Any:
        """Read what decides which endpoint gets which tools (sync: the worker's DB thread)."""
        ...

    def apply(self, loaded: Any) -> set[int]:
        """Keep `load()`'s result; the ids of the endpoints whose tools changed."""
        ...

    def tools_for(self, endpoint_id: int) -> list[types.Tool]:
        """The tools of one endpoint (from what `apply()` kept; no I/O)."""
        ...

    async def call_tool(self, endpoint_id: int, name: str, arguments: dict) -> types.CallToolResult:
        """Run one of the endpoint's tools. Raise ToolInvalidArguments for bad arguments
        (-32602), ToolNotFound for a name it does not have; or return an isError result."""
        ...


ProviderFactory = Callable[[], ExtraToolProvider]
_factories: dict[str, ProviderFactory] = {}


def register_extra_tools(namespace: str, factory: ProviderFactory) -> None:
    """Offer the tools of `factory()` (a provider whose namespace is `namespace`) from the
    pool workers started after this call: each worker makes its own provider (its own
    view of who has which tools). Called from an AppConfig.ready(); idempotent."""
    reserve_server_name(namespace)
    _factories[namespace] = factory


def unregister_extra_tools(namespace: str) -> None:
    """Tests: take a provider out again."""
    _factories.pop(namespace, None)


def extra_tool_providers() -> list[ExtraToolProvider]:
    """A new provider of each registered kind (one set per worker)."""
    providers = []
    for namespace, factory in _factories.items():
        provider = factory()
        if provider.namespace != namespace:
            raise ValueError(
                f"extra tool provider {provider.namespace!r} registered as {namespace!r}"
            )
        providers.append(provider)
    return providers


def extra_namespaces() -> set[str]:
    return set(_factories)


CallObserver = Callable[[CallRecord], Awaitable[None]]


def _outcome_of(exc: BaseException) -> str:
    if isinstance(exc, ToolNotFound):
        return "not_found"
    if isinstance(exc, ToolTimeout | TimeoutError):
        return "timeout"
    if isinstance(exc, ToolUnavailable):
        return "unavailable"
    return "error"  # ToolInvalidArguments too, as for the upstream tools


class ExtraToolsRegistry:
    """The pool's ToolRegistry: `base` for every endpoint, plus the providers' tools
    of the calling endpoint (registry.calling_endpoint; None, e.g. the admin's test
    calls through pool.serve(): no extra tools)."""

    def __init__(
        self,
        base: ToolRegistry,
        providers: Sequence[ExtraToolProvider] = (),
        *,
        on_call: CallObserver | None = None,
    ) -> None:
        self._base = base
        self._providers = {p.namespace: p for p in providers}
        self._on_call = on_call

    @property
    def providers(self) -> list[ExtraToolProvider]:
        return list(self._providers.values())

    async def list_tools(self) -> list[types.Tool]:
        tools = list(await self._base.list_tools())
        endpoint_id = calling_endpoint.get()
        if endpoint_id is None or not self._providers:
            return tools
        taken = {tool.name for tool in tools}
        for provider in self._providers.values():
            for tool in provider.tools_for(endpoint_id):
                if tool.name in taken:  # reserved namespace: only if misconfigured
                    logger.warning("extra tool %s not offered: the name is taken", tool.name)
                    continue
                taken.add(tool.name)
                tools.append(tool)
        return tools

    def _provider_of(self, name: str) -> ExtraToolProvider | None:
        namespace, sep, rest = name.partition(SEPARATOR)
        return self._providers.get(namespace) if sep and rest else None

    async def call_tool(self, name: str, arguments: dict) -> types.CallToolResult:
        provider = self._provider_of(name)
        if provider is None:
            return await self._base.call_tool(name, arguments)
        endpoint_id = calling_endpoint.get()
        started_at, started = datetime.now(UTC), time.perf_counter()
        record: dict[str, Any] = dict(
            tool=name,
            server_id=None,
            upstream_tool=None,
            endpoint_id=endpoint_id,
            started_at=started_at,
            arguments=arguments if isinstance(arguments, dict) else {},
        )
        try:
            offered = endpoint_id is not None and any(
                tool.name == name for tool in provider.tools_for(endpoint_id)
            )
            if not offered:  # not this endpoint's tool: as if it did not exist
                raise ToolNotFound(f"unknown tool {name!r}")
            result = await provider.call_tool(endpoint_id, name, arguments)
        except BaseException as exc:
            if not isinstance(exc, asyncio.CancelledError):
                error = f"unknown tool {name!r}" if isinstance(exc, ToolNotFound) else str(exc)
                error = mask_text(error)[:500]
                await self._record(record, started, _outcome_of(exc), error=error)
            raise
        text = "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))
        await self._record(
            record, started, "tool_error" if result.is_error else "ok", result_text=text
        )
        return result

    async def _record(self, record: dict, started: float, outcome: str, **extra: Any) -> None:
        if self._on_call is None:
            return
        call = CallRecord(
            **record,
            duration_ms=(time.perf_counter() - started) * 1000,
            outcome=outcome,  # type: ignore[arg-type]
            **extra,
        )
        try:  # the observer only queues the record: never fail the call for it
            await self._on_call(call)
        except Exception:  # noqa: BLE001
            logger.exception("extra tool call not recorded")


async def refresh_providers(
    providers: Iterable[ExtraToolProvider], run_sync: Callable[..., Awaitable[Any]]
) -> set[int]:
    """Load and apply every provider; the endpoints whose extra tools changed.

    `run_sync(fn)` runs `fn()` off the event loop (the worker's DbThread.call). A
    provider whose load fails keeps what it had (logged), and the others go on.
    """
    changed: set[int] = set()
    for provider in providers:
        try:
            loaded = await run_sync(provider.load)
            changed |= provider.apply(loaded)
        except Exception:
            logger.exception("extra tools of %r not refreshed", provider.namespace)
    return changed


__all__ = [
    "ExtraToolProvider",
    "ExtraToolsRegistry",
    "ToolInvalidArguments",
    "extra_namespaces",
    "extra_tool_providers",
    "refresh_providers",
    "register_extra_tools",
    "unregister_extra_tools",
]
