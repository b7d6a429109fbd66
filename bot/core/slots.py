"""A fixed number of slots whose holder may give its slot back before it is done.

The watcher's delivery slots bound how many results are downloaded and re-encoded at once; a
result then waiting for its channel's turn (a busy channel posts about once a second) needs no
slot, so it gives it back and other channels' results are not held up behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextvars import ContextVar


class _Held:
    def __init__(self, owner: Slots) -> None:
        self.owner = owner
        self.held = True


_HELD: ContextVar[_Held | None] = ContextVar("imagine_slot_held", default=None)


class Slots:
    def __init__(self, count: int) -> None:
        self._free = asyncio.Semaphore(count)

    @contextlib.asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        """Hold a slot for the block (the current task's, for ``give_back``)."""
        await self._free.acquire()
        holding = _Held(self)
        token = _HELD.set(holding)
        try:
            yield
        finally:
            _HELD.reset(token)
            if holding.held:
                self._free.release()

    def give_back(self) -> None:
        """The current task gives its slot back early (nothing if it holds none of these)."""
        holding = _HELD.get()
        if holding is not None and holding.owner is self and holding.held:
            holding.held = False
            self._free.release()
