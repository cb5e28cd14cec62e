"""Process-local fan-out of console events.

Each web process joins each console group once, on one channel-layer channel,
and hands every event to its own sockets and SSE streams in memory, encoding
the frame once. With one layer channel per socket instead, channels_redis
pushes and pops a group message once per socket: with 500 sockets a single
event took seconds to reach the last one (bench/console_fanout.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import weakref
from collections.abc import Awaitable, Callable

from channels.layers import get_channel_layer

from xiaozhi_hub.broadcast import LAYER_MESSAGE_TYPE, ConsoleFrame, group_name
from xiaozhi_hub.masking import mask_text

logger = logging.getLogger(__name__)

# A member receives (frame, its JSON text).
Deliver = Callable[[ConsoleFrame, str], Awaitable[None]]

# channels_redis forgets a group membership after a day (group_expiry); the
# console stays open for longer, so memberships are renewed well before that.
RENEW_EVERY = 600.0


def encode(frame: ConsoleFrame) -> str:
    # Chinese text and emoji as themselves: a third of the bytes of \u escapes.
    return json.dumps(frame, ensure_ascii=False)


class LocalFanout:
    def __init__(self) -> None:
        self.layer = get_channel_layer()
        self.channel_name: str | None = None
        self.members: dict[str, set[Deliver]] = {}
        self.pump: asyncio.Task | None = None
        # Joins and leaves in order: a member is only told "joined" once the
        # group really includes this process, so no event slips past it.
        self.lock = asyncio.Lock()

    async def join(self, channel: str, deliver: Deliver) -> None:
        async with self.lock:
            if self.pump is None:
                # The default prefix: channels_redis reads all of a process's
                # channels from one Redis key, named after that prefix.
                self.channel_name = await self.layer.new_channel()
                self.pump = asyncio.create_task(self._run(self.channel_name))
            members = self.members.setdefault(channel, set())
            if not members:
                await self.layer.group_add(group_name(channel), self.channel_name)
            members.add(deliver)

    async def leave(self, channel: str, deliver: Deliver) -> None:
        async with self.lock:
            members = self.members.get(channel)
            if not members or deliver not in members:
                return
            members.discard(deliver)
            if members:
                return
            del self.members[channel]
            await self.layer.group_discard(group_name(channel), self.channel_name)
            if not self.members:  # nobody left in this process: stop listening
                pump, self.pump, self.channel_name = self.pump, None, None
                pump.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pump

    async def _run(self, channel_name: str) -> None:
        receiving: asyncio.Future | None = None
        try:
            while True:
                if receiving is None:
                    receiving = asyncio.ensure_future(self.layer.receive(channel_name))
                done, _ = await asyncio.wait({receiving}, timeout=RENEW_EVERY)
                if not done:
                    await self._renew(channel_name)
                    continue
                finished, receiving = receiving, None
                try:
                    message = finished.result()
                except Exception as exc:  # Redis away: wait, then listen again
                    logger.warning("console fan-out: %s", mask_text(str(exc)))
                    await asyncio.sleep(1)
                    await self._renew(channel_name)
                    continue
                if message.get("type") == LAYER_MESSAGE_TYPE:
                    await self._deliver(message["frame"])
        finally:
            if receiving is not None:
                receiving.cancel()

    async def _renew(self, channel_name: str) -> None:
        for channel in list(self.members):
            with contextlib.suppress(Exception):
                await self.layer.group_add(group_name(channel), channel_name)

    async def _deliver(self, frame: ConsoleFrame) -> None:
        members = self.members.get(frame.get("channel"))
        if not members:
            return
        text = encode(frame)
        for deliver in list(members):
            try:
                await deliver(frame, text)
            except Exception:  # one broken socket must not starve the others
                logger.exception("console fan-out: delivery failed")


_by_loop: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def fanout() -> LocalFanout:
    """This event loop's fan-out (one per process in daphne; tests run many loops)."""
    loop = asyncio.get_running_loop()
    instance = _by_loop.get(loop)
    if instance is None:
        instance = _by_loop[loop] = LocalFanout()
    return instance
