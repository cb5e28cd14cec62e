"""A loopback self-hosted MCP endpoint relay, behaving like xinnan-tech's mcp-endpoint-server.

The hub dials the tool side, `ws://127.0.0.1:<port>/mcp_endpoint/mcp/?token=<t>`;
robots (xiaozhi-server, one connection per device session) dial
`/mcp_endpoint/call/?token=<t>`. The token names the agent (the real relay
decrypts an AES token to get the agent id; here the token is the agent id).
What this relay does, as the real one does:

- sends nothing to the tool side on its own: `initialize` reaches the hub only
  when a robot sends one (each robot sends its own; robots share one tool
  connection);
- rewrites robot request ids to strings `<uuid>_n_<id>` (numbers) or
  `<uuid>_s_<id>` (strings), where <uuid> names the robot's connection; an id
  that is falsy (0, "") is forwarded as is and its answer cannot be routed back;
- routes back only answers whose id carries such a prefix of a live robot,
  with the robot's own id restored; every request and notification the tool
  side originates (the hub's MCP `ping`, `notifications/tools/list_changed`)
  is dropped and recorded in `relay.dropped`;
- a robot message while no tool side is connected gets a JSON-RPC error
  ("tool side not connected");
- a second tool connection for an agent replaces the first, closing it with 1000;
- WebSocket ping frames are answered (by the websockets library, as in the real
  relay); `relay.freeze()` stops reading the tool side's socket, so its pings go
  unanswered (a hung relay or a dead link), `relay.thaw()` resumes.

Typical use:

    async with RelayPeer() as relay:
        await pool.apply([EndpointConfig(id=1, name="r", url=relay.tool_url("agent"))])
        await relay.wait_tool("agent")
        async with relay.robot("agent") as robot:
            await robot.initialize()
            tools = await robot.list_tools()
            result = await robot.call_tool("hub__echo", {"text": "hi"})

A separate process (benchmarks): `python -m tests.endpoints.relay_peer` prints
`PORT <n>` and serves until killed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

TOOL_PATH = "/mcp_endpoint/mcp/"
ROBOT_PATH = "/mcp_endpoint/call/"
NOT_CONNECTED = -32001  # the relay's "tool side not connected" error


@dataclass
class ToolSide:
    """One tool-side connection (the hub) of an agent."""

    agent: str
    ws: ServerConnection
    closed: asyncio.Event = field(default_factory=asyncio.Event)


def transform_id(original: Any, robot_uuid: str) -> Any:
    """The relay's id rewriting; a falsy id (0, "", null) is left as is."""
    if not original:
        return original
    kind = "n" if isinstance(original, int) and not isinstance(original, bool) else "s"
    return f"{robot_uuid}_{kind}_{original}"


def restore_id(transformed: Any) -> tuple[str | None, Any]:
    """(robot uuid, the robot's own id) of a rewritten id; (None, None) if it is not one."""
    if not isinstance(transformed, str):
        return None, None
    parts = transformed.split("_", 2)
    if len(parts) < 3 or parts[1] not in ("n", "s"):
        return None, None
    robot_uuid, kind, original = parts
    if kind == "n":
        with contextlib.suppress(ValueError):
            return robot_uuid, int(original)
    return robot_uuid, original


def _json_object(frame: str | bytes) -> dict | None:
    try:
        message = json.loads(frame)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None


class RelayPeer:
    def __init__(self) -> None:
        self._server: Server | None = None
        self.port = 0
        self.tools: dict[str, ToolSide] = {}  # agent → its current tool side
        self.tool_connections: list[ToolSide] = []  # every tool connection, in order
        self.robots: dict[str, tuple[str, ServerConnection]] = {}  # uuid → (agent, ws)
        self.dropped: list[dict] = []  # tool-side-originated messages the relay dropped
        self.forwarded_to_tool: list[dict] = []  # robot messages as the tool side got them
        self._tool_changed = asyncio.Condition()
        self._frozen = False

    async def __aenter__(self) -> RelayPeer:
        # No keepalive pings of our own: the real relay sends none either.
        self._server = await serve(self._handle, "127.0.0.1", 0, ping_interval=None)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    # -- URLs and control ----------------------------------------------------

    def tool_url(self, agent: str, *, path: str = TOOL_PATH) -> str:
        return f"ws://127.0.0.1:{self.port}{path}?token={agent}"

    def robot_url(self, agent: str) -> str:
        return f"ws://127.0.0.1:{self.port}{ROBOT_PATH}?token={agent}"

    def robot(self, agent: str) -> Robot:
        return Robot(self.robot_url(agent))

    async def wait_tool(self, agent: str, *, after: int = 0, timeout: float = 5.0) -> ToolSide:
        """The agent's tool side once more than `after` tool connections were made."""
        async with asyncio.timeout(timeout), self._tool_changed:
            await self._tool_changed.wait_for(
                lambda: agent in self.tools and len(self.tool_connections) > after
            )
            return self.tools[agent]

    def freeze(self) -> None:
        """Stop reading every tool side (and new ones): pings go unanswered."""
        self._frozen = True
        for side in self.tools.values():
            side.ws.transport.pause_reading()

    def thaw(self) -> None:
        self._frozen = False
        for side in self.tools.values():
            side.ws.transport.resume_reading()

    # -- connections -----------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        target = urlsplit(ws.request.path)
        agent = (parse_qs(target.query).get("token") or [""])[0]
        if not agent:
            await ws.close(1008, "missing token")
        elif target.path == TOOL_PATH:
            await self._tool_side(agent, ws)
        elif target.path == ROBOT_PATH:
            await self._robot_side(agent, ws)
        else:
            await ws.close(1008, "unknown path")

    async def _tool_side(self, agent: str, ws: ServerConnection) -> None:
        old = self.tools.get(agent)
        if old is not None:
            await old.ws.close(1000, "replaced by a new connection")
        side = ToolSide(agent, ws)
        async with self._tool_changed:
            self.tools[agent] = side
            self.tool_connections.append(side)
            self._tool_changed.notify_all()
        if self._frozen:
            ws.transport.pause_reading()
        try:
            async for frame in ws:
                await self._from_tool(frame)
        except ConnectionClosed:
            pass
        finally:
            side.closed.set()
            if self.tools.get(agent) is side:
                del self.tools[agent]

    async def _from_tool(self, frame: str | bytes) -> None:
        message = _json_object(frame)
        if message is None:
            return
        is_answer = "method" not in message and ("result" in message or "error" in message)
        robot_uuid, original = restore_id(message.get("id")) if is_answer else (None, None)
        robot = self.robots.get(robot_uuid) if robot_uuid else None
        if robot is None:
            self.dropped.append(message)  # the hub's ping, notifications, unroutable answers
            return
        with contextlib.suppress(ConnectionClosed):
            await robot[1].send(json.dumps({**message, "id": original}, ensure_ascii=False))

    async def _robot_side(self, agent: str, ws: ServerConnection) -> None:
        robot_uuid = str(uuid.uuid4())
        self.robots[robot_uuid] = (agent, ws)
        try:
            async for frame in ws:
                await self._from_robot(agent, robot_uuid, ws, frame)
        except ConnectionClosed:
            pass
        finally:
            del self.robots[robot_uuid]

    async def _from_robot(
        self, agent: str, robot_uuid: str, ws: ServerConnection, frame: str | bytes
    ) -> None:
        message = _json_object(frame)
        if message is None:
            return  # the real relay logs it and forwards nothing
        side = self.tools.get(agent)
        if side is None:
            if "id" in message:
                error = {"code": NOT_CONNECTED, "message": "tool side not connected"}
                await ws.send(json.dumps({"jsonrpc": "2.0", "id": message["id"], "error": error}))
            return
        if "id" in message:
            message = {**message, "id": transform_id(message["id"], robot_uuid)}
        self.forwarded_to_tool.append(message)
        with contextlib.suppress(ConnectionClosed):
            await side.ws.send(json.dumps(message, ensure_ascii=False))


class RobotError(Exception):
    """A JSON-RPC error answer to a robot's request."""

    def __init__(self, error: dict) -> None:
        super().__init__(error.get("message"))
        self.error = error


class Robot:
    """A xiaozhi-server device session calling tools through the relay's /call/ path."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._ws: ClientConnection | None = None
        self._ids = itertools.count(1)
        self._waiting: dict[Any, asyncio.Future] = {}
        self._reader: asyncio.Task | None = None

    async def __aenter__(self) -> Robot:
        self._ws = await connect(self.url, ping_interval=None)
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc_info) -> None:
        assert self._ws is not None and self._reader is not None
        await self._ws.close()
        self._reader.cancel()
        await asyncio.gather(self._reader, return_exceptions=True)

    async def _read(self) -> None:
        assert self._ws is not None
        with contextlib.suppress(ConnectionClosed):
            async for frame in self._ws:
                message = json.loads(frame)
                future = self._waiting.pop(message.get("id"), None)
                if future is not None and not future.done():
                    future.set_result(message)
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(ConnectionError("the relay closed the robot's connection"))

    async def request(
        self,
        method: str,
        params: dict | None = None,
        *,
        timeout: float = 10.0,
        request_id: int | str | None = None,
    ) -> dict:
        """The `result` of one request (ids count from 1 unless given); RobotError for an
        error answer."""
        assert self._ws is not None
        request_id = next(self._ids) if request_id is None else request_id
        future = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        message = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}}
        await self._ws.send(json.dumps(message, ensure_ascii=False))
        async with asyncio.timeout(timeout):
            answer = await future
        if "error" in answer:
            raise RobotError(answer["error"])
        return answer["result"]

    async def notify(self, method: str) -> None:
        assert self._ws is not None
        await self._ws.send(json.dumps({"jsonrpc": "2.0", "method": method}))

    async def initialize(self) -> dict:
        result = await self.request(
            "initialize",
            {
                "protocolVersion": "2024-11-05",
                "capabilities": {"roots": {"listChanged": False}, "sampling": {}},
                "clientInfo": {"name": "xiaozhi-server", "version": "test"},
            },
        )
        await self.notify("notifications/initialized")
        return result

    async def list_tools(self) -> list[dict]:
        return (await self.request("tools/list"))["tools"]

    async def call_tool(self, name: str, arguments: dict, *, timeout: float = 10.0) -> dict:
        return await self.request(
            "tools/call", {"name": name, "arguments": arguments}, timeout=timeout
        )


async def _serve_forever() -> None:
    async with RelayPeer() as relay:
        print(f"PORT {relay.port}", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    asyncio.run(_serve_forever())
