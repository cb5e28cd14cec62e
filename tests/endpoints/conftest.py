"""Fixtures for the endpoint pool's Django side (tests/endpoints/test_*.py)."""

from __future__ import annotations

import asyncio
import io
import threading
from collections import Counter
from collections.abc import Coroutine
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

from endpoints.worker import PoolWorkerService
from tests.endpoints.peers import XiaozhiPeer, endpoint_url, make_token
from tests.services import api_token

SECRET_MARK = "SeCrEtToKeN"


def secret_token(tag: str = "", **claims: Any) -> str:
    """A JWT-shaped token whose signature part is easy to search for in output."""
    return make_token(**claims)[:-1] + f".{SECRET_MARK}{tag}"


def secret_url(port: int = 8004, tag: str = "", **claims: Any) -> str:
    return endpoint_url(port, secret_token(tag, **claims))


@pytest.fixture
def staff_user(db):
    return get_user_model().objects.create_user(
        "staff", password="pw", is_staff=True, is_superuser=True
    )


@pytest.fixture
def staff_client(staff_user):
    client = APIClient()
    client.force_login(staff_user)
    return client


@pytest.fixture
def admin_client(staff_user):
    client = Client()
    client.force_login(staff_user)
    return client


@pytest.fixture
def token_client(staff_user):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token(staff_user)}")
    return client


class CountingPeer(XiaozhiPeer):
    """A peer that counts concurrent hub connections per token (one per endpoint allowed)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.live: Counter[str] = Counter()
        self.most: Counter[str] = Counter()
        self.opened: Counter[str] = Counter()
        self.closed_count: Counter[str] = Counter()

    async def _handle(self, ws) -> None:
        token = parse_qs(urlsplit(ws.request.path).query).get("token", [""])[0]
        self.live[token] += 1
        self.opened[token] += 1
        self.most[token] = max(self.most[token], self.live[token])
        # A connection ends when its TCP connection does, not when the peer's
        # handler has finished tidying up after it.
        closed = asyncio.ensure_future(ws.wait_closed())
        closed.add_done_callback(lambda _: self._ended(token))
        await super()._handle(ws)

    def _ended(self, token: str) -> None:
        self.live[token] -= 1
        self.closed_count[token] += 1


class PeerThread:
    """Peers on an event loop in a thread, so sync tests (Django client) can drive the hub."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.peers: list[CountingPeer] = []

    def run(self, coro: Coroutine, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def peer(self, mode: str = "mcp") -> CountingPeer:
        peer = self.run(CountingPeer(mode).start())
        self.peers.append(peer)
        return peer

    def close(self) -> None:
        for peer in self.peers:
            try:
                self.run(peer.stop(), timeout=10)
            except Exception:  # noqa: BLE001 - best effort at teardown
                pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def peer_thread():
    peers = PeerThread()
    yield peers
    peers.close()


@pytest.fixture
def start_worker(peer_thread):
    """start_worker(**options) -> a PoolWorkerService running on the peers' loop (in
    Redis mode when the suite has Redis); each is stopped, and awaited, after the test."""
    running = []

    def start(**options) -> PoolWorkerService:
        # One worker per test: no other worker to wait for (tests/endpoints/test_lease.py
        # covers the start-up settle).
        options.setdefault("settle", 0.0)
        service = PoolWorkerService(**options)

        async def run() -> asyncio.Task:
            return asyncio.ensure_future(service.run())

        running.append(peer_thread.run(run()))
        return service

    yield start
    for task in running:
        peer_thread.loop.call_soon_threadsafe(task.cancel)

    async def stopped() -> None:
        await asyncio.gather(*running, return_exceptions=True)

    async def stacks() -> str:
        out = io.StringIO()
        for task in asyncio.all_tasks():
            task.print_stack(file=out)
        return out.getvalue()

    try:
        peer_thread.run(stopped(), timeout=30)
    except TimeoutError:
        raise AssertionError(
            "the worker did not stop within 30 s; its tasks:\n" + peer_thread.run(stacks())
        ) from None


def open_to(peer, token: str) -> list:
    """The peer's open, initialized connections for the endpoint with `token`."""
    return [c for c in peer.open_connections() if token in c.path and c.initialized.is_set()]


def wait_until(predicate, *, timeout: float, interval: float = 0.05, message: str = "") -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(message or f"condition not met within {timeout} s")
