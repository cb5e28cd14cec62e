"""A stdio upstream spoken to in raw JSON-RPC lines, with the mcp SDK alongside.

Why: through the SDK a tools/call is validated into pydantic models and dumped
again on each side, and hops through memory streams and tasks; that was about
80 % of the hub's CPU per call, against a bare line pipe. Here the hub owns
the child's pipes itself:

- `request()` writes one request as one line and gets its answer from the
  reader by id, parsed with `json` only: the lean path `tools/call` takes;
- every other line (answers to the SDK's own requests, notifications such as
  `tools/list_changed`, requests from the server, garbage) is validated into
  the SDK's message model and handed to a `ClientSession` over memory
  streams, which keeps doing `initialize`, listing and notifications;
- what the session writes is dumped to a line on the same stdin. Each write
  is a whole line in one `write()`, so the two writers never interleave.

Lean request ids start at `LEAN_ID_BASE`, far above the SDK's own counter
(which starts at 0), and stay below 2**31 for servers that keep ids in 32 bits.
A line longer than `MAX_LINE` is dropped; if it was the answer to a lean
request (its id is near the start, as every JSON-RPC library writes it), that
request fails at once instead of waiting for its timeout.

The child runs in its own process group; closing follows the MCP shutdown
order: close stdin, wait, SIGTERM the group, wait, SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
from collections.abc import AsyncIterator
from typing import TextIO

import anyio
import mcp_types
from mcp.client.stdio import get_default_environment
from mcp.os.posix.utilities import terminate_posix_process_tree
from mcp.shared.message import SessionMessage

from .config import ReplicaConfig

logger = logging.getLogger("endpoints.upstreams")

LEAN_ID_BASE = 1_000_000_000
LEAN_ID_END = 2_000_000_000  # ids wrap back to the base here (int32-safe)
MAX_LINE = 16 << 20  # bytes; far above any frame the pool forwards (1 MiB by default)
READ_CHUNK = 1 << 16
SESSION_BUFFER = 16  # SDK-bound messages queued before the reader waits for the session
CLOSE_GRACE = 2.0  # seconds after closing stdin before SIGTERM, and after it before SIGKILL
EXIT_POLL = 0.01

# The id of a response, near the start of its line ({"jsonrpc":"2.0","id":7,...}).
_HEAD_ID = re.compile(rb'"id"\s*:\s*(\d+)')


class LinkLost(Exception):
    """The child's stdout ended or its stdin broke: no answer will come on this link."""


class LineTooLong(Exception):
    """The upstream's answer was longer than MAX_LINE bytes and was dropped."""


def encode_line(message: dict) -> bytes:
    text = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode() + b"\n"
    except UnicodeEncodeError:  # a lone surrogate from a peer: escaped, it is valid JSON
        return json.dumps(message, separators=(",", ":")).encode() + b"\n"


class StdioLines:
    """One running child: lean requests by id, and the SDK session's two streams."""

    def __init__(self, process: asyncio.subprocess.Process, label: str) -> None:
        self.process = process
        self.pid = process.pid
        self.label = label
        self.lost = asyncio.Event()
        self.reason = ""
        self._pending: dict[int, asyncio.Future[dict]] = {}
        # A counter, not itertools.cycle: cycle keeps every value it has handed out.
        self._next_id = LEAN_ID_BASE
        self._to_session, self.session_read = anyio.create_memory_object_stream[
            SessionMessage | Exception
        ](SESSION_BUFFER)
        self.session_write, self._from_session = anyio.create_memory_object_stream[SessionMessage](
            SESSION_BUFFER
        )
        self._tasks: list[asyncio.Task] = []

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._read(), name="upstream-stdout"),
            loop.create_task(self._write_session(), name="upstream-stdin"),
        ]

    # --- the lean path ---------------------------------------------------------------------

    async def request(self, method: str, params: dict) -> dict:
        """Send one request; its raw JSON-RPC response (with `result` or `error`).

        LinkLost when the child is gone before the answer; a cancelled caller (its
        timeout) sends the courtesy `notifications/cancelled` and forgets the id."""
        if self.lost.is_set():
            raise LinkLost(self.reason)
        request_id = self._next_id
        self._next_id = request_id + 1 if request_id + 1 < LEAN_ID_END else LEAN_ID_BASE
        future: asyncio.Future[dict] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        message = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        try:
            await self._send(encode_line(message))
            return await future
        except asyncio.CancelledError:
            # (Cancelling this task cancelled `future` too: cancelled means no answer came.)
            answered = future.done() and not future.cancelled()
            if not answered and not self.lost.is_set():
                cancel = {
                    "jsonrpc": "2.0",
                    "method": "notifications/cancelled",
                    "params": {"requestId": request_id, "reason": "timed out"},
                }
                with contextlib.suppress(LinkLost):
                    self._write(encode_line(cancel))
            raise
        finally:
            self._pending.pop(request_id, None)
            if future.done() and not future.cancelled():
                future.exception()  # lost while sending: raised as LinkLost, not left unread

    def _write(self, data: bytes) -> None:
        if self.lost.is_set():
            raise LinkLost(self.reason)
        if self.process.stdin.is_closing():  # a write failed (the child died): stop writing
            self._lose("the upstream's stdin is closed")
            raise LinkLost(self.reason)
        try:
            self.process.stdin.write(data)
        except (OSError, RuntimeError) as exc:  # the pipe broke / the transport is closing
            self._lose(f"writing to the upstream failed: {exc}")
            raise LinkLost(self.reason) from exc

    async def _send(self, data: bytes) -> None:
        self._write(data)
        try:
            await self.process.stdin.drain()
        except OSError as exc:
            self._lose(f"writing to the upstream failed: {exc}")
            raise LinkLost(self.reason) from exc

    # --- reading ---------------------------------------------------------------------------

    async def _read(self) -> None:
        stdout = self.process.stdout
        partial = bytearray()
        skipping = False  # inside a line that was too long, until its newline
        try:
            while chunk := await stdout.read(READ_CHUNK):
                start = 0
                if skipping:
                    start = chunk.find(b"\n") + 1
                    if start == 0:
                        continue
                    skipping = False
                end = chunk.find(b"\n", start)
                while end >= 0:
                    if partial:
                        partial += chunk[start:end]
                        line = bytes(partial)
                        partial.clear()
                    else:
                        line = chunk[start:end]
                    await self._dispatch(line)
                    start = end + 1
                    end = chunk.find(b"\n", start)
                partial += chunk[start:]
                if len(partial) > MAX_LINE:
                    self._drop_long_line(bytes(partial[:256]))
                    partial.clear()
                    skipping = True
        except (OSError, ValueError) as exc:
            self._lose(f"reading from the upstream failed: {exc}")
        finally:
            self._lose(self.reason or "the upstream process closed its stdout")

    async def _dispatch(self, line: bytes) -> None:
        if not line.strip():
            return
        try:
            message = json.loads(line)
        except ValueError as exc:  # incl. bad UTF-8; the session logs it, as the SDK does
            await self._to_sdk(exc)
            return
        if type(message) is dict and "method" not in message:
            key = message.get("id")
            if type(key) is int:
                future = self._pending.pop(key, None)
                if future is not None:
                    if not future.done():
                        future.set_result(message)
                    return
                if LEAN_ID_BASE <= key < LEAN_ID_END:
                    return  # the late answer to a lean request that timed out
        try:
            parsed = mcp_types.jsonrpc_message_adapter.validate_python(message, by_name=False)
        except ValueError as exc:
            await self._to_sdk(exc)
            return
        await self._to_sdk(SessionMessage(parsed))

    async def _to_sdk(self, item: SessionMessage | Exception) -> None:
        with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
            await self._to_session.send(item)

    def _drop_long_line(self, head: bytes) -> None:
        logger.warning("upstream %s sent a line over %d MiB; dropped", self.label, MAX_LINE >> 20)
        match = _HEAD_ID.search(head)
        future = self._pending.pop(int(match.group(1)), None) if match else None
        if future is not None and not future.done():
            future.set_exception(LineTooLong(f"the answer was larger than {MAX_LINE >> 20} MiB"))

    def _lose(self, reason: str) -> None:
        if self.lost.is_set():
            return
        self.reason = reason
        self.lost.set()
        pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(LinkLost(reason))
        self._to_session.close()  # the session's own requests end as "connection closed"

    # --- the session's writes --------------------------------------------------------------

    async def _write_session(self) -> None:
        with contextlib.suppress(LinkLost, anyio.ClosedResourceError, anyio.EndOfStream):
            async with self._from_session:
                async for item in self._from_session:
                    text = item.message.model_dump_json(by_alias=True, exclude_unset=True)
                    await self._send(text.encode() + b"\n")

    # --- closing ---------------------------------------------------------------------------

    async def close(self) -> None:
        """Stop the child (stdin closed, then SIGTERM, then SIGKILL to its group)."""
        self._lose(self.reason or "closed by the hub")
        self.session_write.close()
        try:
            with contextlib.suppress(OSError, RuntimeError):
                self.process.stdin.close()
            if not await _exited(self.process, CLOSE_GRACE):
                await terminate_posix_process_tree(self.process, CLOSE_GRACE)
        finally:
            # Cancelled while waiting: the child still must not outlive its link.
            if self.process.returncode is None:
                with contextlib.suppress(OSError):
                    os.killpg(self.pid, signal.SIGKILL)
            for task in self._tasks:
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(BaseException):
                    await task
            transport = getattr(self.process, "_transport", None)
            if transport is not None:
                transport.close()  # the pipes' fds, even when a grandchild still holds them
            self._to_session.close()
            self.session_read.close()
            self._from_session.close()


async def _exited(process: asyncio.subprocess.Process, timeout: float) -> bool:
    """Whether the child exited within `timeout`, by its returncode (not wait(), which
    also waits for pipe EOF that a grandchild holding the pipes delays)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while process.returncode is None:
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(EXIT_POLL)
    return True


@contextlib.asynccontextmanager
async def open_stdio_lines(
    replica: ReplicaConfig, *, errlog: TextIO, label: str
) -> AsyncIterator[StdioLines]:
    """Start the child (own process group, stderr to `errlog`) and yield its line link.

    FileNotFoundError / PermissionError come through for the caller to describe."""
    process = await asyncio.create_subprocess_exec(
        replica.command,
        *replica.args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=errlog,
        env=get_default_environment() | dict(replica.env),
        cwd=replica.cwd,
        start_new_session=True,
        limit=1 << 20,
    )
    lines = StdioLines(process, label)
    lines.start()
    try:
        yield lines
    finally:
        # Shielded: a cancelled supervisor still stops the child and frees its pipes.
        await asyncio.shield(lines.close())
