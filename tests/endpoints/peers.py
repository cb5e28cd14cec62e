"""Loopback xiaozhi peers: WebSocket servers that play the xiaozhi side of an MCP endpoint.

The hub dials OUT to an endpoint and then plays the MCP server; the xiaozhi
side is the MCP client. `XiaozhiPeer` is that side on 127.0.0.1:

- mode "mcp" (default): every connection the hub dials runs the real `mcp`
  SDK `ClientSession` over the socket, so initialize / list_tools / call_tool /
  ping are done by code we did not write;
- mode "scripted": replays the exact message sequence of the xiaozhi broker
  (docs/protocols.md, "xiaozhi MCP endpoint wire protocol": id 0 initialize,
  notifications/initialized, tools/list id 1, ping, tools/call) and records
  every raw reply;
- mode "idle": initializes with the broker's frames, then only answers the hub's
  pings (cheap; for benchmarks with many connections);
- fault modes: "silent" (accepts, never initializes), "no-pong" (initializes,
  then answers nothing), "half-open" (initializes, then stops reading: a dead
  TCP peer), "close-1000", "close-4004" (closes after initializing), "drop"
  (cuts the TCP connection without a close frame), "oversized" (sends one
  frame bigger than the hub's limit), "reject-401" / "reject-403" /
  "reject-500" (refuses the HTTP handshake).

The mode can be changed while the peer runs (`peer.mode = "mcp"`); it applies
to the next connection. In the raw modes the hub's own requests (its pings,
`pool.request`) go to `peer.request_handler` (default: ping → {}, else
-32601; return None to stay silent, `connection.drop()` to cut the line);
`connection.answer_hub = False` mutes one connection. `peer.handshakes`
counts HTTP upgrade attempts (rejected ones too); `peer.connections` lists
every connection, and `wait_connection(after=n)` waits for a new one. Each
`peer.url()` call carries a fresh token, so it is a new URL. Typical use:

    async with XiaozhiPeer() as peer:
        config = EndpointConfig(id=1, name="a", url=peer.url(make_token()))
        await pool.apply([config])
        conn = await peer.wait_connection()          # hub connected and initialized
        tools = await conn.list_tools()
        result = await conn.call_tool("hub__echo", {"text": "hi"})

Several peers: `async with peers_running(3) as peers: ...`. URLs by hand:
`endpoint_url(port, make_token(expires_in=60))`. A separate process (for
benchmarks): `python -m tests.endpoints.peers --mode idle [--latency S]
[--drop-on METHOD]` prints `PORT <n>` and serves until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

import anyio
import mcp_types
from mcp import ClientSession, types
from mcp.shared.message import SessionMessage
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

MODES = (
    "mcp",
    "scripted",
    "idle",
    "silent",
    "no-pong",
    "half-open",
    "close-1000",
    "close-4004",
    "drop",
    "oversized",
    "reject-401",
    "reject-403",
    "reject-500",
)

# The reference sequence, byte for byte as the xiaozhi broker sends it (docs/protocols.md,
# "xiaozhi MCP endpoint wire protocol").
REFERENCE_INITIALIZE = (
    '{"id":0,"method":"initialize","params":{"protocolVersion":"2024-11-05",'
    '"capabilities":{"sampling":{},"roots":{"listChanged":false}},'
    '"clientInfo":{"name":"xz-mcp-broker","version":"0.0.1"}}}'
)
REFERENCE_INITIALIZED = '{"method":"notifications/initialized"}'
REFERENCE_TOOLS_LIST = '{"id":1,"method":"tools/list","params":{}}'


def _b64(data: dict) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def make_token(*, expires_in: float = 3600.0, exp: float | None = None, **claims: Any) -> str:
    """An unsigned JWT shaped like a xiaozhi endpoint token (only `exp` matters to the hub)."""
    now = time.time()
    payload = {
        "userId": 1,
        "agentId": 1,
        "endpointId": "agent_1",
        "purpose": "mcp-endpoint",
        "iat": int(now),
        "exp": int(exp if exp is not None else now + expires_in),
        "jti": secrets.token_hex(6),  # every token differs, as regenerated URLs do
        **claims,
    }
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(payload)}."


def endpoint_url(port: int, token: str | None = None, *, path: str = "/mcp/") -> str:
    url = f"ws://127.0.0.1:{port}{path}"
    return f"{url}?token={token}" if token is not None else url


RequestHandler = Callable[["PeerConnection", dict], Awaitable[dict | None]]


async def answer_pings(connection: PeerConnection, message: dict) -> dict | None:
    """Default answer to the hub's own requests: ping → {}, anything else → -32601."""
    if message.get("method") == "ping":
        return {"jsonrpc": "2.0", "id": message["id"], "result": {}}
    return {
        "jsonrpc": "2.0",
        "id": message["id"],
        "error": {"code": -32601, "message": "Method not found"},
    }


class PeerConnection:
    """One connection the hub dialled into a peer."""

    def __init__(self, peer: XiaozhiPeer, ws: ServerConnection, mode: str) -> None:
        self.peer = peer
        self.ws = ws
        self.mode = mode
        self.path = ws.request.path if ws.request is not None else ""
        self.frames: list[str] = []  # every raw frame the hub sent, in order
        self.reply_frames: dict[Any, str] = {}  # raw reply per id of our requests
        self.notifications: list[str] = []  # methods of the hub's notifications
        self.hub_requests: list[dict] = []  # requests the hub sent (its pings, pool.request)
        self.session: ClientSession | None = None  # mode "mcp"
        self.initialize_result: Any = None
        self.initialized = asyncio.Event()
        self.closed = asyncio.Event()
        self.answer_hub = mode not in ("no-pong",)
        self._replies: dict[Any, asyncio.Future] = {}
        self._unmatched: asyncio.Queue[dict] = asyncio.Queue()
        self._changed = asyncio.Event()
        self._next_id = 100

    # -- what the hub sent --------------------------------------------------

    def _record(self, frame: str | bytes) -> dict | None:
        text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
        self.frames.append(text)
        try:
            message = json.loads(text)
        except ValueError:
            return None
        if isinstance(message, dict) and "method" in message:
            if "id" in message:
                self.hub_requests.append(message)
            else:
                self.notifications.append(message["method"])
        self._changed.set()
        return message if isinstance(message, dict) else None

    async def wait_notification(self, method: str, *, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while method not in self.notifications:
                self._changed.clear()
                await self._changed.wait()

    async def wait_hub_request(self, method: str, *, timeout: float = 5.0) -> dict:
        async with asyncio.timeout(timeout):
            while True:
                for message in self.hub_requests:
                    if message.get("method") == method:
                        return message
                self._changed.clear()
                await self._changed.wait()

    # -- SDK client calls (mode "mcp") --------------------------------------

    def _sdk(self) -> ClientSession:
        if self.session is None:
            raise RuntimeError(f"connection in mode {self.mode!r} has no SDK session")
        return self.session

    async def list_tools(self) -> types.ListToolsResult:
        return await self._sdk().list_tools()

    async def call_tool(self, name: str, arguments: dict | None = None) -> types.CallToolResult:
        return await self._sdk().call_tool(name, arguments or {})

    async def ping(self) -> Any:
        return await self._sdk().send_ping()

    # -- raw frames (scripted and fault modes) ------------------------------

    async def send_raw(self, frame: str | bytes) -> None:
        await self.ws.send(frame)

    async def request(
        self, method: str, params: dict | None = None, *, request_id: Any = None, timeout: float = 5
    ) -> dict:
        """Send a request as raw JSON and return the hub's reply (parsed)."""
        if request_id is None:
            request_id = self._next_id
            self._next_id += 1
        message: dict = {"id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        return await self.request_raw(json.dumps(message), request_id, timeout=timeout)

    async def request_raw(self, frame: str, request_id: Any, *, timeout: float = 5) -> dict:
        future = asyncio.get_running_loop().create_future()
        self._replies[request_id] = future
        await self.ws.send(frame)
        try:
            async with asyncio.timeout(timeout):
                return await future
        finally:
            self._replies.pop(request_id, None)

    async def next_unmatched(self, *, timeout: float = 5) -> dict:
        """The next reply that matched no request of ours (e.g. an error with id null)."""
        async with asyncio.timeout(timeout):
            return await self._unmatched.get()

    async def _read_scripted(self) -> None:
        """Reader for the raw modes: match replies, answer the hub's requests."""
        try:
            await self._read_frames()
        finally:
            for future in self._replies.values():
                if not future.done():
                    future.set_exception(ConnectionError("the hub's connection closed"))

    async def _read_frames(self) -> None:
        async for frame in self.ws:
            message = self._record(frame)
            if message is None:
                continue
            if "method" in message:
                if "id" in message and self.answer_hub:
                    reply = await self.peer.request_handler(self, message)
                    if reply is not None:
                        await self.ws.send(json.dumps(reply))
                continue
            future = self._replies.get(message.get("id"))
            if future is not None and not future.done():
                self.reply_frames[message["id"]] = self.frames[-1]
                future.set_result(message)
            else:
                self._unmatched.put_nowait(message)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self.ws.close(code, reason)

    def drop(self) -> None:
        """Cut the TCP connection without a close frame (the hub sees 1006)."""
        self.ws.transport.abort()


class XiaozhiPeer:
    """A loopback xiaozhi endpoint (a WebSocket server) the hub dials into."""

    def __init__(
        self,
        mode: str = "mcp",
        *,
        port: int = 0,
        latency: float = 0.0,
        oversized_bytes: int = (1 << 20) + 1,
    ) -> None:
        self.mode = mode
        self.port = port
        self.latency = latency  # simulated one-way link delay before handshake and initialize
        self.oversized_bytes = oversized_bytes
        self.request_handler: RequestHandler = answer_pings
        self.connections: list[PeerConnection] = []
        self.handshakes = 0  # HTTP upgrade requests seen (rejected ones included)
        self.reference_replies: list[str] = []  # raw replies to the broker's sequence ("scripted")
        self._server: Server | None = None
        self._arrived = asyncio.Condition()

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, value: str) -> None:
        if value not in MODES:
            raise ValueError(f"unknown peer mode {value!r}; expected one of {', '.join(MODES)}")
        self._mode = value

    def url(self, token: str | None = None, *, path: str = "/mcp/") -> str:
        """ws://127.0.0.1:PORT/mcp/?token=... (a fresh token, so a new URL, on every call)."""
        return endpoint_url(self.port, token if token is not None else make_token(), path=path)

    async def start(self) -> XiaozhiPeer:
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            self.port,
            process_request=self._process_request,
            max_size=None,  # the peer accepts anything; limits are the hub's business
            compression=None,
            ping_interval=None,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Take the peer down: open connections are dropped without a close frame."""
        if self._server is None:
            return
        self._server.close(close_connections=False)
        for connection in self.connections:
            if not connection.closed.is_set():
                connection.drop()
        await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> XiaozhiPeer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- waiting for the hub ------------------------------------------------

    def open_connections(self) -> list[PeerConnection]:
        return [c for c in self.connections if not c.closed.is_set()]

    async def wait_connection(
        self, *, initialized: bool = True, after: int = 0, timeout: float = 5.0
    ) -> PeerConnection:
        """The first open connection with index >= `after` (initialized unless told otherwise)."""

        def found() -> PeerConnection | None:
            for connection in self.connections[after:]:
                if connection.closed.is_set():
                    continue
                if not initialized or connection.initialized.is_set():
                    return connection
            return None

        async with asyncio.timeout(timeout):
            async with self._arrived:
                await self._arrived.wait_for(found)
                return found()

    async def _notify(self) -> None:
        async with self._arrived:
            self._arrived.notify_all()

    # -- serving ------------------------------------------------------------

    async def _process_request(self, connection: ServerConnection, request: Any) -> Any:
        self.handshakes += 1
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.mode.startswith("reject-"):
            status = HTTPStatus(int(self.mode.removeprefix("reject-")))
            return connection.respond(status, f"{status.phrase}\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        connection = PeerConnection(self, ws, self.mode)
        self.connections.append(connection)
        await self._notify()
        try:
            if connection.mode == "mcp":
                await self._run_sdk_client(connection)
            else:
                await self._run_scripted(connection)
        except (
            ConnectionClosed,
            ConnectionError,
            anyio.BrokenResourceError,
            anyio.ClosedResourceError,
        ):
            pass
        finally:
            connection.closed.set()
            connection._changed.set()
            await self._notify()

    async def _handshake(self, connection: PeerConnection, *, reference: bool) -> None:
        if self.latency:
            await asyncio.sleep(self.latency)
        reply = await connection.request_raw(REFERENCE_INITIALIZE, 0)
        connection.initialize_result = reply.get("result")
        if reference:
            self.reference_replies.append(connection.reply_frames[0])
        await connection.send_raw(REFERENCE_INITIALIZED)
        connection.initialized.set()
        await self._notify()

    async def _run_scripted(self, connection: PeerConnection) -> None:
        mode = connection.mode
        reader = asyncio.create_task(connection._read_scripted())
        try:
            if mode != "silent":
                await self._handshake(connection, reference=mode == "scripted")
            if mode == "scripted":
                await self._replay_reference(connection)
            elif mode == "half-open":
                connection.ws.transport.pause_reading()
                reader.cancel()
            elif mode in ("close-1000", "close-4004"):
                code = int(mode.removeprefix("close-"))
                reason = "Internal server error" if code == 4004 else "bye"
                await connection.close(code, reason)
            elif mode == "drop":
                connection.drop()
            elif mode == "oversized":
                await connection.send_raw("x" * self.oversized_bytes)
            await asyncio.gather(reader, return_exceptions=True)
            await connection.ws.wait_closed()
        finally:
            reader.cancel()

    async def _replay_reference(self, connection: PeerConnection) -> None:
        """tools/list id 1, a ping, a tools/call: the rest of the broker's sequence."""
        call = {"name": "hub__echo", "arguments": {"text": "你好"}}
        sequence = [
            (REFERENCE_TOOLS_LIST, 1),
            ('{"id":2,"method":"ping","params":{}}', 2),
            (json.dumps({"id": 3, "method": "tools/call", "params": call}, ensure_ascii=False), 3),
        ]
        for frame, request_id in sequence:
            await connection.request_raw(frame, request_id)
            self.reference_replies.append(connection.reply_frames[request_id])

    async def _run_sdk_client(self, connection: PeerConnection) -> None:
        """The real mcp ClientSession over this socket (memory streams ↔ WebSocket)."""
        ws = connection.ws
        read_send, read_receive = anyio.create_memory_object_stream[SessionMessage | Exception](32)
        write_send, write_receive = anyio.create_memory_object_stream[SessionMessage](32)

        async def socket_to_session() -> None:
            async with read_send:
                with contextlib.suppress(ConnectionClosed):  # the session sees its stream end
                    async for frame in ws:
                        connection._record(frame)
                        try:
                            message = mcp_types.jsonrpc_message_adapter.validate_json(
                                frame, by_name=False
                            )
                        except ValueError as exc:
                            await read_send.send(exc)
                            continue
                        await read_send.send(SessionMessage(message))

        async def session_to_socket() -> None:
            async with write_receive:
                with contextlib.suppress(ConnectionClosed):
                    async for session_message in write_receive:
                        message = session_message.message
                        await ws.send(message.model_dump_json(by_alias=True, exclude_unset=True))

        async def on_message(message: Any) -> None:
            connection._changed.set()

        async with anyio.create_task_group() as group:
            group.start_soon(socket_to_session)
            group.start_soon(session_to_socket)
            try:
                async with ClientSession(
                    read_receive,
                    write_send,
                    message_handler=on_message,
                    client_info=types.Implementation(name="xz-mcp-broker", version="0.0.1"),
                ) as session:
                    connection.session = session
                    if self.latency:
                        await asyncio.sleep(self.latency)
                    connection.initialize_result = await session.initialize()
                    connection.initialized.set()
                    await self._notify()
                    await ws.wait_closed()
            finally:
                group.cancel_scope.cancel()


@contextlib.asynccontextmanager
async def peers_running(
    count: int, mode: str = "mcp", **kwargs: Any
) -> AsyncIterator[list[XiaozhiPeer]]:
    """`count` peers on free ports, stopped on exit."""
    peers = [XiaozhiPeer(mode, **kwargs) for _ in range(count)]
    try:
        await asyncio.gather(*(peer.start() for peer in peers))
        yield peers
    finally:
        await asyncio.gather(*(peer.stop() for peer in peers), return_exceptions=True)


def token_expired_at(when: datetime) -> str:
    """A token whose `exp` is `when` (for expired-token tests)."""
    return make_token(exp=when.astimezone(UTC).timestamp())


def main() -> None:
    parser = argparse.ArgumentParser(description="Run a loopback xiaozhi peer until killed.")
    parser.add_argument("--mode", default="scripted", choices=MODES)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--drop-on", default="", help="drop the connection on this hub request")
    args = parser.parse_args()

    async def drop_on(connection: PeerConnection, message: dict) -> dict | None:
        if message.get("method") == args.drop_on:
            connection.drop()
            return None
        return await answer_pings(connection, message)

    async def run() -> None:
        peer = XiaozhiPeer(args.mode, port=args.port, latency=args.latency)
        if args.drop_on:
            peer.request_handler = drop_on
        await peer.start()
        print(f"PORT {peer.port}", flush=True)
        await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


if __name__ == "__main__":
    main()
