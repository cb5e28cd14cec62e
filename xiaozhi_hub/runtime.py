"""The background runtime: long-lived asyncio services in one daemon thread.

It runs inside the Celery worker's main process (started on worker_ready,
stopped on worker_shutdown) and inside `runhub`. Apps register services in
their AppConfig.ready(); the endpoint pool and the chat sync are such
services. A service that crashes is logged and restarted after a pause, so
one bug does not take the others down.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

logger = logging.getLogger(__name__)

ServiceFactory = Callable[[], Awaitable[None]]


class BackgroundRuntime:
    def __init__(self, *, restart_delay: float = 5.0) -> None:
        self.restart_delay = restart_delay
        self._factories: dict[str, ServiceFactory] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._tasks: dict[str, asyncio.Task] = {}
        self.restarts: dict[str, int] = {}

    def register(self, name: str, factory: ServiceFactory) -> None:
        """Add a service: `factory()` returns a coroutine that runs until cancelled."""
        if name in self._factories:
            raise ValueError(f"a runtime service named {name!r} is already registered")
        self._factories[name] = factory
        if self.running:
            self.submit(self._launch(name))

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        return self._loop

    def start(self) -> None:
        if self.running:
            return
        started = threading.Event()
        self._loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            for name in self._factories:
                self._loop.create_task(self._launch(name))
            self._loop.call_soon(started.set)
            self._loop.run_forever()
            self._loop.close()

        self._thread = threading.Thread(target=run, name="hub-runtime", daemon=True)
        self._thread.start()
        started.wait()
        logger.info("background runtime started with %d services", len(self._factories))

    def submit(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future:
        """Run a coroutine on the runtime's loop from any thread."""
        if not self.running:
            coro.close()
            raise RuntimeError("the background runtime is not running")
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def stop(self, timeout: float = 5.0) -> None:
        """Cancel every service, wait up to `timeout` for them, stop the thread."""
        if not self.running:
            return
        try:
            self.submit(self._cancel_all()).result(timeout)
        except concurrent.futures.TimeoutError:
            logger.warning("runtime services did not stop within %.1f s", timeout)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        self._thread = None
        logger.info("background runtime stopped")

    async def _launch(self, name: str) -> None:
        self._tasks[name] = asyncio.current_task()
        factory = self._factories[name]
        while True:
            try:
                await factory()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                self.restarts[name] = self.restarts.get(name, 0) + 1
                logger.exception("runtime service %s crashed; restarting", name)
                await asyncio.sleep(self.restart_delay)

    async def _cancel_all(self) -> None:
        tasks = [t for t in self._tasks.values() if not t.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()


runtime = BackgroundRuntime()
