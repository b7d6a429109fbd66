"""The bot's own waiting line, for requests beyond MAX_GENERATIONS_IN_FLIGHT.

Oxen queues without limit, but the person running the bot may want at most N generations at
Oxen at once. Requests past that wait here, in the store (a restart keeps them), first come first
served, and go to Oxen as generations finish. Their status messages show their place in line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from bot.core.enqueue import Enqueuer, NothingQueued
from bot.core.errors import OXEN_UNKNOWN_OUTCOME, explain_oxen_error
from bot.core.ports import RequestReporter, Store
from bot.core.types import Order, Waiting
from bot.oxen import OxenConnectionError, OxenError, OxenTimeout, RateLimited, ServerError

log = logging.getLogger(__name__)

# Oxen did not take it and says nothing against it: keep its place and try again later.
_TRY_AGAIN = (RateLimited, ServerError, OxenConnectionError)
_SAFETY_TICK = 30.0


class WaitingLine:
    def __init__(
        self,
        store: Store,
        enqueuer: Enqueuer,
        reporter: RequestReporter,
        *,
        tell: Callable[[Waiting, str], Awaitable[None]],
        cap: int,
        retry_delay: float = 5.0,
    ) -> None:
        self._store = store
        self._enqueuer = enqueuer
        self._reporter = reporter
        self._tell = tell  # the requester, mentioned, in the channel (or DMs)
        self.cap = cap  # 0: no cap, nobody waits
        self._retry_delay = retry_delay
        self._sending = 0  # images on their way to Oxen, not yet counted in the store
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    # --- admission ----------------------------------------------------------------------------

    async def admit(self, count: int, *, first_in_line: bool = False) -> bool:
        """Reserve room for ``count`` images at Oxen now, or say the request must wait. A batch
        larger than the cap goes when nothing else is in flight. Call release() after sending."""
        self._sending += count  # before any await: requests racing here see each other
        if self.cap <= 0:
            return True
        if not first_in_line and await self._store.line.count():
            admitted = False  # first come, first served: nobody overtakes the line
        else:
            others = await self._store.jobs.in_flight() + self._sending - count
            admitted = others + count <= self.cap or others == 0
        if not admitted:
            self._sending -= count
        return admitted

    def release(self, count: int) -> None:
        """The admitted images are stored (or were refused): the store counts them now."""
        self._sending -= count

    async def join(self, order: Order) -> Waiting:
        waiting = await self._store.line.add(order)
        log.info("request from user %s waits in line (cap %d)", order.requester_id, self.cap)
        self.wake()  # room may have freed while it was being added
        return waiting

    # --- the pump -----------------------------------------------------------------------------

    def wake(self) -> None:
        """A generation finished (or a request joined): see whether the next one may go."""
        if self.cap > 0:
            self._wakeup.set()

    def start(self) -> None:
        if self._task is None and self.cap > 0:
            self._wakeup.set()  # requests left in line by the last run
            self._task = asyncio.create_task(self._run(), name="imagine-waiting-line")

    async def stop(self) -> None:
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _run(self) -> None:
        retry_soon = False
        while not self._stopping:
            # Woken when a generation finishes; the tick is a safety net (and, after Oxen was
            # busy, the retry).
            tick = self._retry_delay if retry_soon else _SAFETY_TICK
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), tick)
            self._wakeup.clear()
            if self._stopping:
                break
            try:
                retry_soon = await self.send_what_fits()
            except Exception:
                log.exception("the waiting line failed; trying again shortly")
                retry_soon = True

    async def send_what_fits(self) -> bool:
        """Send requests from the front of the line while there is room. Returns True if Oxen
        was busy and the front request must be tried again later."""
        while not self._stopping:
            line = await self._store.line.in_order(limit=1)
            if not line:
                return False
            front = line[0]
            if not await self.admit(front.order.count, first_in_line=True):
                return False
            try:
                busy = await self._send(front)
            finally:
                self.release(front.order.count)
            if busy:
                return True
        return False

    async def _send(self, front: Waiting) -> bool:
        """Send the front request; True if Oxen was busy and it went back to its place."""
        intent = await self._store.line.take(front)
        if intent is None:
            return False  # cancelled a moment ago
        try:
            await self._enqueuer.send(
                front.order, intent,
                request_id=front.request_id, status_message_id=front.status_message_id,
            )  # fmt: skip
        except _TRY_AGAIN as err:
            if not isinstance(err, OxenTimeout):  # a timeout may have been taken: not resent
                log.warning("Oxen did not take request %s (%s); it keeps its place", front.id, err)
                await self._store.line.put_back(front, intent)
                return True
            reason = OXEN_UNKNOWN_OUTCOME
        except OxenError as err:
            reason = explain_oxen_error(err)
        except NothingQueued:
            reason = "Oxen accepted it but returned no generation."
        else:
            log.info("request %s left the line for Oxen", front.request_id)
            return False
        await self._store.intents.forget(intent)
        log.warning("request %s from the line was refused by Oxen: %s", front.id, reason)
        await self._reporter.not_started(front, reason)
        try:
            await self._tell(front, reason)
        except Exception:
            log.exception("could not tell user %s that request %s never started",
                          front.requester_id, front.id)  # fmt: skip
        return False
