import asyncio
import json

import pytest

from endpoints.pool import BuiltinToolRegistry, EndpointPool
from endpoints.upstreams.config import ServerConfig
from endpoints.upstreams.manager import UpstreamManager
from tests.endpoints.peers import XiaozhiPeer
from tests.endpoints.pool.conftest import endpoint, wait_until
from tests.endpoints.upstream_servers import stdio_replica

# Fast restarts so failover/rejoin tests finish in seconds.
FAST_REPLICAS = {"backoff_start": 0.1, "backoff_max": 0.5, "ping_interval": 2.0}

LIST_CHANGED = "notifications/tools/list_changed"


def stdio_server(server_id: int, name: str, *, replicas: int = 1, **kwargs) -> ServerConfig:
    replica_keys = ("tools", "page_size", "malformed", "clash")
    replica_kwargs = {k: kwargs.pop(k) for k in replica_keys if k in kwargs}
    return ServerConfig(
        id=server_id,
        name=name,
        transport="stdio",
        replicas=tuple(stdio_replica(f"{name}-{i}", **replica_kwargs) for i in range(replicas)),
        **kwargs,
    )


class Recorder:
    """Collects the manager's callbacks."""

    def __init__(self) -> None:
        self.calls = []
        self.statuses = []
        self.catalogs = []
        self.tools_changed = 0

    async def on_call(self, record) -> None:
        self.calls.append(record)

    async def on_status(self, status) -> None:
        self.statuses.append(status)

    async def on_catalog(self, server_id, tools) -> None:
        self.catalogs.append((server_id, tools))


@pytest.fixture
def recorder():
    return Recorder()


@pytest.fixture
async def hub(recorder):
    """An UpstreamManager serving an EndpointPool, plus one connected XiaozhiPeer."""
    pool_ref: list[EndpointPool] = []

    async def tools_changed() -> None:
        recorder.tools_changed += 1
        await pool_ref[0].notify_tools_changed()

    manager = UpstreamManager(
        builtin=BuiltinToolRegistry(),
        on_tools_changed=tools_changed,
        on_catalog=recorder.on_catalog,
        on_status=recorder.on_status,
        on_call=recorder.on_call,
        replica_options=FAST_REPLICAS,
    )
    pool = EndpointPool(registry=manager)
    pool_ref.append(pool)
    peer = await XiaozhiPeer().start()
    await pool.apply([endpoint(1, peer)])
    connection = await peer.wait_connection()
    hub = Hub(manager, pool, peer, connection)
    try:
        yield hub
    finally:
        await pool.close()
        await manager.close()
        await peer.stop()


class Hub:
    def __init__(self, manager, pool, peer, connection) -> None:
        self.manager = manager
        self.pool = pool
        self.peer = peer
        self.connection = connection

    async def names(self) -> list[str]:
        return [tool.name for tool in (await self.connection.list_tools()).tools]

    async def wait_ready(self, server_id: int, *, tools: int | None = None, timeout=15.0):
        def ready():
            server = self.manager.server(server_id)
            if server is None or not server.ready:
                return False
            return tools is None or len(server.tools) == tools

        await wait_until(ready, timeout=timeout)

    async def wait_offered(self, name: str, present: bool = True, timeout=5.0) -> None:
        async def check():
            return (name in await self.names()) == present

        async with asyncio.timeout(timeout):
            while not await check():
                await asyncio.sleep(0.05)

    def notifications(self) -> int:
        return self.connection.notifications.count(LIST_CHANGED)


async def request_error(hub: Hub, name: str, arguments: dict | None = None) -> dict:
    """The JSON-RPC error the peer gets for a tools/call (fails when there is none)."""
    from mcp.shared.exceptions import MCPError

    try:
        result = await hub.connection.call_tool(name, arguments or {})
    except MCPError as exc:
        return {"code": exc.error.code, "message": exc.error.message}
    raise AssertionError(f"expected an error, got {result}")


async def seen_by(replica) -> list[str]:
    """The tools a replica's process was called with (the `seen` tool, asked of it directly)."""
    return json.loads((await replica.call("seen", {}, 5)).content[0].text)


def alive(pid: int) -> bool:
    """True while `pid` runs (a zombie counts as gone only once reaped, so check both)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
