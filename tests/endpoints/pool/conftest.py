import asyncio

import pytest

from endpoints.pool import BuiltinToolRegistry, ConnectionOptions, EndpointConfig, EndpointPool
from tests.endpoints.peers import XiaozhiPeer

# Short intervals keep the suite fast; jitter off where exact delays are checked.
FAST = ConnectionOptions(
    health_check_interval=0.5,
    reconnect_interval=0.05,
    max_reconnect_delay=0.2,
    max_reconnect_attempts=0,
    connection_timeout=1.0,
    jitter=False,
)


def endpoint(endpoint_id: int, peer: XiaozhiPeer, **overrides) -> EndpointConfig:
    options = overrides.pop("options", FAST)
    return EndpointConfig(
        id=endpoint_id, name=f"ep{endpoint_id}", url=peer.url(), options=options, **overrides
    )


class StatusLog:
    """Records every on_status call the pool makes."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, str, bool]] = []

    async def __call__(self, status, state_changed: bool) -> None:
        self.calls.append((status.endpoint_id, status.state, state_changed))

    def states(self, endpoint_id: int) -> list[str]:
        seen: list[str] = []
        for i, state, changed in self.calls:
            if i == endpoint_id and changed and (not seen or seen[-1] != state):
                seen.append(state)
        return seen


async def wait_until(predicate, *, timeout: float = 5.0, interval: float = 0.01):
    async with asyncio.timeout(timeout):
        while not (value := predicate()):
            await asyncio.sleep(interval)
        return value


async def never_within(seconds: float, predicate, *, interval: float = 0.01) -> None:
    """Rule an event out: fail if `predicate()` turns true at any time within `seconds`.

    `seconds` is the window in which the event would come if it were going to (a
    retry within the backoff cap, a ping on its tick): say why at the call.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        assert not predicate(), "it happened"
        if loop.time() >= deadline:
            return
        await asyncio.sleep(interval)


async def wait_state(pool, endpoint_id: int, *states: str, timeout: float = 5.0):
    def current():
        status = pool.status(endpoint_id)
        if status is not None and status.state in states:
            if status.state != "connected" or status.initialized:
                return status
        return None

    try:
        return await wait_until(current, timeout=timeout)
    except TimeoutError:
        status = pool.status(endpoint_id)
        raise AssertionError(
            f"endpoint {endpoint_id} never reached {states}: {status.to_dict() if status else None}"
        ) from None


def endpoint_tasks() -> list[asyncio.Task]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("endpoint-") and not t.done()]


@pytest.fixture
def status_log():
    return StatusLog()


@pytest.fixture
async def pool(status_log):
    pool = EndpointPool(registry=BuiltinToolRegistry(lambda: pool.summary()), on_status=status_log)
    yield pool
    await pool.close()
    assert endpoint_tasks() == [], "connection tasks left running after close()"


@pytest.fixture
async def peer():
    async with XiaozhiPeer() as peer:
        yield peer
