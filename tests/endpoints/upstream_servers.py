"""Real upstream MCP servers for the tests and the benchmark (written with the mcp SDK).

Run one:

    python -m tests.endpoints.upstream_servers --transport stdio|streamable-http|sse \
        [--port N | --fd N] [--name X] [--tools N] [--page-size N] [--latency S] [--malformed]

Tools: add(a, b), echo(text), slow(seconds), boom() (raises: the SDK answers
isError), fail() (returns isError deliberately), whoami() ("<name>:<pid>", to
tell replicas apart), seen() (the names of the tools this process was called
with, in order, as JSON: which replica saw a call), rendezvous(group, count)
(no call of a group answers before `count` of them have arrived, so they were
all in progress at once: proof of concurrency with no clock involved; use a
fresh group per batch), weather.get(city)
(a name the hub must sanitise), toggle_extra() (adds/removes the tool `extra`
and sends notifications/tools/list_changed), and `--tools N` generated tools
gen_0000... tools/list is paginated (`--page-size`, default 50) so clients
must follow nextCursor. `--latency S` delays every tool call by S seconds (a
distant or overloaded server).

`--malformed` (stdio only) runs a hand-written line server instead: it
initializes and lists tools correctly, then answers every tools/call with a
result of the wrong shape.

Pytest helpers: `stdio_replica(...)` returns the ReplicaConfig that starts a
stdio upstream; `http_upstream(...)` is an async context manager that starts
an HTTP (streamable-http or sse) upstream and waits until it answers HTTP.
Its listening socket is bound here and inherited (`--fd`), so no other
process can take the port between choosing it and the child listening.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcp import types
from mcp.server.mcpserver import Context, MCPServer

REPO_ROOT = Path(__file__).resolve().parents[2]
MODULE = "tests.endpoints.upstream_servers"


# --- the server ---------------------------------------------------------------------------


def build_server(
    name: str,
    *,
    tools: int = 0,
    page_size: int = 50,
    clash: bool = False,
    latency: float = 0.0,
):
    """An MCPServer with the test tools; tools/list is paginated by `page_size`."""
    seen_calls: list[str] = []
    arrivals: Counter[str] = Counter()
    arrived = asyncio.Condition()

    class PagedServer(MCPServer):
        async def _handle_list_tools(self, ctx, params):  # noqa: ANN001 - SDK signature
            everything = await self.list_tools()
            start = int(params.cursor) if params is not None and params.cursor else 0
            end = start + page_size
            next_cursor = str(end) if end < len(everything) else None
            return types.ListToolsResult(tools=everything[start:end], next_cursor=next_cursor)

        async def call_tool(self, name, arguments, context=None):  # noqa: ANN001 - SDK signature
            if name != "seen":
                seen_calls.append(name)
            if latency:
                await asyncio.sleep(latency)
            return await super().call_tool(name, arguments, context)

    server = PagedServer(name, log_level="WARNING")

    @server.tool(description="Adds two numbers.")
    def add(a: float, b: float) -> str:
        total = a + b
        return str(int(total) if total == int(total) else total)

    @server.tool(description="Returns the text unchanged.")
    def echo(text: str) -> str:
        return text

    @server.tool(description="Sleeps for the given seconds, then answers.")
    async def slow(seconds: float) -> str:
        await asyncio.sleep(seconds)
        return f"slept {seconds}"

    @server.tool(description="Always raises.")
    def boom() -> str:
        raise RuntimeError("boom: the tool crashed")

    @server.tool(description="Returns a tool error (isError) on purpose.")
    def fail() -> types.CallToolResult:
        return types.CallToolResult(
            content=[types.TextContent(type="text", text="failed on purpose")], is_error=True
        )

    @server.tool(description="Which replica answered: '<name>:<pid>'.")
    def whoami() -> str:
        return f"{name}:{os.getpid()}"

    @server.tool(description="The tools this process was called with, in order (JSON).")
    def seen() -> str:
        return json.dumps(seen_calls)

    @server.tool(description="Answers once `count` calls of `group` have arrived.")
    async def rendezvous(group: str, count: int, timeout: float = 30.0) -> str:
        async with arrived:
            arrivals[group] += 1
            arrived.notify_all()
            async with asyncio.timeout(timeout):
                await arrived.wait_for(lambda: arrivals[group] >= count)
        return f"{count} together"

    @server.tool(name="weather.get", description="Weather for a city (name needs sanitising).")
    def weather_get(city: str) -> str:
        return f"sunny in {city}"

    if clash:  # a second tool whose exposed name is also <server>__weather_get

        @server.tool(name="weather:get", description="Clashes with weather.get once sanitised.")
        def weather_clash(city: str) -> str:
            return f"rainy in {city}"

    def extra() -> str:
        return "extra"

    @server.tool(description="Adds or removes the tool 'extra', then sends list_changed.")
    async def toggle_extra(ctx: Context) -> str:
        names = {tool.name for tool in await server.list_tools()}
        if "extra" in names:
            server.remove_tool("extra")
            state = "removed"
        else:
            server.add_tool(extra, name="extra", description="An extra tool.")
            state = "added"
        await ctx.session.send_tool_list_changed()
        return state

    for index in range(tools):
        server.add_tool(
            _generated(index), name=f"gen_{index:04d}", description=f"Generated tool {index}."
        )
    return server


def _generated(index: int):
    def generated(value: str = "") -> str:
        return f"gen_{index:04d}:{value}"

    return generated


# --- the malformed server -----------------------------------------------------------------


def run_malformed(name: str) -> None:
    """Line-by-line JSON-RPC over stdio: a proper handshake, then wrong-shaped results."""

    def answer(message_id: Any, result: dict) -> None:
        sys.stdout.write(json.dumps({"jsonrpc": "2.0", "id": message_id, "result": result}) + "\n")
        sys.stdout.flush()

    for line in sys.stdin:
        try:
            message = json.loads(line)
        except ValueError:
            continue
        method, message_id = message.get("method"), message.get("id")
        if message_id is None:
            continue  # a notification
        if method == "initialize":
            version = message.get("params", {}).get("protocolVersion", "2025-06-18")
            answer(
                message_id,
                {
                    "protocolVersion": version,
                    "capabilities": {"tools": {"listChanged": False}},
                    "serverInfo": {"name": name, "version": "0"},
                },
            )
        elif method == "tools/list":
            schema = {"type": "object", "properties": {}}
            tool = {"name": "add", "description": "Answers garbage.", "inputSchema": schema}
            answer(message_id, {"tools": [tool]})
        elif method == "tools/call":
            answer(message_id, {"content": "this should be a list", "isError": "perhaps"})
        else:
            answer(message_id, {})


# --- pytest helpers -----------------------------------------------------------------------


def server_args(
    transport: str,
    *,
    name: str,
    tools: int = 0,
    page_size: int = 50,
    port: int | None = None,
    fd: int | None = None,
    clash: bool = False,
    latency: float = 0.0,
) -> list[str]:
    args = ["-m", MODULE, "--transport", transport, "--name", name]
    if clash:
        args.append("--clash")
    if tools:
        args += ["--tools", str(tools)]
    if page_size != 50:
        args += ["--page-size", str(page_size)]
    if port is not None:
        args += ["--port", str(port)]
    if fd is not None:
        args += ["--fd", str(fd)]
    if latency:
        args += ["--latency", str(latency)]
    return args


def stdio_replica(
    name: str = "upstream",
    *,
    tools: int = 0,
    page_size: int = 50,
    malformed: bool = False,
    clash: bool = False,
    latency: float = 0.0,
    env=(),
):
    """The ReplicaConfig that runs a stdio upstream of this module."""
    from endpoints.upstreams.config import ReplicaConfig

    args = server_args(
        "stdio", name=name, tools=tools, page_size=page_size, clash=clash, latency=latency
    )
    if malformed:
        args.append("--malformed")
    return ReplicaConfig(
        command=sys.executable, args=tuple(args), env=tuple(env), cwd=str(REPO_ROOT)
    )


@dataclass
class HttpUpstream:
    transport: str
    port: int
    process: asyncio.subprocess.Process

    @property
    def url(self) -> str:
        path = "/sse" if self.transport == "sse" else "/mcp"
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def replica(self, headers=()):
        from endpoints.upstreams.config import ReplicaConfig

        return ReplicaConfig(url=self.url, headers=tuple(headers))


async def wait_http(port: int, process: asyncio.subprocess.Process, *, timeout: float = 30.0):
    """Wait until the child answers an HTTP request on `port` (any status will do).

    The socket listens from the start (it was bound here), so a connect proves
    nothing: the child must read the request and answer it.
    """
    async with asyncio.timeout(timeout):
        while process.returncode is None:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            try:
                writer.write(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
                if (await reader.readline()).startswith(b"HTTP/"):
                    return
            except OSError:
                pass
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
            await asyncio.sleep(0.05)
    raise RuntimeError(f"the HTTP upstream exited with {process.returncode} before serving")


@contextlib.asynccontextmanager
async def http_upstream(
    transport: str = "streamable-http", *, name: str = "http", tools: int = 0, page_size: int = 50
) -> AsyncIterator[HttpUpstream]:
    """Start an HTTP upstream on a socket bound here; yield it once it answers HTTP."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        port = listener.getsockname()[1]
        fd = listener.fileno()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *server_args(transport, name=name, tools=tools, page_size=page_size, fd=fd),
            cwd=str(REPO_ROOT),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            pass_fds=(fd,),
        )
    # The child holds its own copy of the listening socket now.
    try:
        await wait_http(port, process)
        yield HttpUpstream(transport=transport, port=port, process=process)
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 5)
            except TimeoutError:
                process.kill()
                await process.wait()


def serve_http(server, transport: str, host: str, fd: int) -> None:
    """Serve `server` over HTTP on an inherited listening socket."""
    import uvicorn

    app = server.sse_app(host=host) if transport == "sse" else server.streamable_http_app(host=host)
    config = uvicorn.Config(app, log_level="warning")
    uvicorn.Server(config).run(sockets=[socket.socket(fileno=fd)])


# --- command line -------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--transport", choices=("stdio", "streamable-http", "sse"), default="stdio")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--fd", type=int, help="HTTP: serve on this inherited listening socket")
    parser.add_argument("--name", default="upstream")
    parser.add_argument("--tools", type=int, default=0, help="extra generated tools")
    parser.add_argument("--page-size", type=int, default=50, help="tools per tools/list page")
    parser.add_argument("--malformed", action="store_true", help="stdio: wrong-shaped answers")
    parser.add_argument("--clash", action="store_true", help="add weather:get (clashes)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every call")
    options = parser.parse_args(argv)
    if options.malformed:
        run_malformed(options.name)
        return
    server = build_server(
        options.name,
        tools=options.tools,
        page_size=options.page_size,
        clash=options.clash,
        latency=options.latency,
    )
    if options.transport == "stdio":
        server.run("stdio")
    elif options.fd is not None:
        serve_http(server, options.transport, options.host, options.fd)
    else:
        server.run(options.transport, host=options.host, port=options.port)


if __name__ == "__main__":
    main()
