"""Open an `mcp` ClientSession to one replica, over stdio, SSE or streamable HTTP.

`open_session` is an async context manager yielding a `Link`: the initialized
session, the child's pid (stdio) and an event set when the transport's read
side ends (child exited, HTTP stream gone), so the supervisor notices a dead
replica even when no call is in flight. A stdio child runs on the hub's own
line link (lines.py): the session shares it, and `Link.lines` is the raw path
the lean `tools/call` takes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from mcp import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from xiaozhi_hub.masking import mask_text, mask_url

from .config import ReplicaConfig
from .lines import StdioLines, open_stdio_lines

logger = logging.getLogger("endpoints.upstreams")

MessageHandler = Callable[[Any], Awaitable[None]]


class ReplicaStartError(Exception):
    """A replica cannot start for a reason retrying soon will not fix (bad command, 401, 404)."""


def replica_label(transport: str, replica: ReplicaConfig) -> str:
    """A masked, human label: 'stdio: python -m x' or 'sse: https://host/****'."""
    if transport == "stdio":
        return mask_text(f"stdio: {' '.join([replica.command, *replica.args])}")[:200]
    return f"{transport}: {mask_url(replica.url)}"


@dataclass
class Link:
    session: ClientSession
    pid: int | None = None
    lost: asyncio.Event = field(default_factory=asyncio.Event)
    lines: StdioLines | None = None  # stdio: the raw line link the lean calls use


class _WatchedStream:
    """A receive stream proxy that sets `lost` when the transport's read side ends."""

    def __init__(self, inner: Any, lost: asyncio.Event) -> None:
        self._inner = inner
        self._lost = lost

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def __aenter__(self) -> _WatchedStream:
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> Any:
        self._lost.set()
        return await self._inner.__aexit__(*exc_info)

    def __aiter__(self) -> _WatchedStream:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self._inner.__anext__()
        except BaseException:
            self._lost.set()
            raise

    async def receive(self) -> Any:
        try:
            return await self._inner.receive()
        except BaseException:
            self._lost.set()
            raise


@contextlib.asynccontextmanager
async def open_session(
    transport: str,
    replica: ReplicaConfig,
    *,
    message_handler: MessageHandler,
    label: str = "",
) -> AsyncIterator[Link]:
    """Connect, initialize, and yield the Link; closing stops the child / HTTP session."""
    async with contextlib.AsyncExitStack() as stack:
        pid: int | None = None
        lines: StdioLines | None = None
        if transport == "stdio":
            label = label or replica_label(transport, replica)
            errlog, reader = _stderr_pipe(label)
            stack.push_async_callback(reader.stop)
            try:
                lines = await stack.enter_async_context(
                    open_stdio_lines(replica, errlog=errlog, label=label)
                )
            except FileNotFoundError as exc:
                raise ReplicaStartError(f"command not found: {replica.command}") from exc
            except PermissionError as exc:
                raise ReplicaStartError(f"command not executable: {replica.command}") from exc
            finally:
                errlog.close()  # the child holds its own copy; EOF comes when it exits
            pid = lines.pid
            reader.start()
            streams = (lines.session_read, lines.session_write)
        elif transport == "streamable-http":
            client = create_mcp_http_client(headers=dict(replica.headers) or None)
            await stack.enter_async_context(client)
            streams = await stack.enter_async_context(
                streamable_http_client(replica.url, http_client=client)
            )
        elif transport == "sse":
            streams = await stack.enter_async_context(
                sse_client(replica.url, headers=dict(replica.headers) or None)
            )
        else:
            raise ReplicaStartError(f"unknown transport {transport!r}")
        read_stream, write_stream = streams[0], streams[1]
        lost = lines.lost if lines is not None else asyncio.Event()
        session = ClientSession(
            _WatchedStream(read_stream, lost), write_stream, message_handler=message_handler
        )
        await stack.enter_async_context(session)
        await session.initialize()
        yield Link(session=session, pid=pid, lost=lost, lines=lines)


# --- stdio stderr capture -----------------------------------------------------------------


class _StderrReader:
    """Reads the child's stderr pipe and logs it line by line, masked."""

    def __init__(self, read_fd: int, label: str) -> None:
        self._fd = read_fd
        self._label = label
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="upstream-stderr")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=1 << 20)
        pipe = os.fdopen(self._fd, "rb", buffering=0)
        self._fd = -1
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), pipe
        )
        try:
            while line := await reader.readline():
                text = line.decode(errors="replace").rstrip()
                if text:
                    logger.info("[%s] %s", self._label, mask_text(text))
        except (ValueError, OSError):
            pass
        finally:
            transport.close()

    async def stop(self) -> None:
        if self._task is None:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1
            return
        # The child is gone (stdio_client has stopped it): give the last lines a moment.
        try:
            await asyncio.wait_for(asyncio.shield(self._task), 0.5)
        except (TimeoutError, asyncio.CancelledError):
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task


def _stderr_pipe(label: str) -> tuple[Any, _StderrReader]:
    read_fd, write_fd = os.pipe()
    return os.fdopen(write_fd, "w"), _StderrReader(read_fd, label)
