"""The bot's own waiting line: requests that wait their turn instead of being refused.

A request waits when its owner already has their images-at-once limit at Oxen (it starts when
one of theirs finishes), or when the bot is at MAX_GENERATIONS_IN_FLIGHT (it takes its turn,
across servers and people: see bot.core.turns). The line is in the store, so a restart keeps
it; the pump sends whoever's turn it is whenever room frees, and tells the reporters where every
waiting request now stands.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable

from bot.core import locks, turns
from bot.core.enqueue import Enqueuer, NothingQueued
from bot.core.errors import OXEN_UNKNOWN_OUTCOME, explain_oxen_error
from bot.core.leases import Holder
from bot.core.ports import RequestReporter, Store
from bot.core.types import LinePlace, Order, Owner, Waiting
from bot.oxen import OxenConnectionError, OxenError, OxenTimeout, RateLimited, ServerError

log = logging.getLogger(__name__)

# Oxen did not take it and says nothing against it: keep its place and try again later.
_TRY_AGAIN = (RateLimited, ServerError, OxenConnectionError)
_SAFETY_TICK = 30.0
_PLACES_EVERY = 1.0  # seconds: places are recomputed at most this often, however busy
_NO_ROOM = -1  # from _take: the bot is at its cap (intent ids are positive)


def _owner(order: Order) -> Owner:
    return (order.guild_id, order.requester_id)


def _everywhere(_guild_id: int | None) -> bool:
    return True


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
        holder: Holder | None = None,
        serves: Callable[[int | None], bool] = _everywhere,
    ) -> None:
        self._store = store
        self._enqueuer = enqueuer
        self._reporter = reporter
        self._tell = tell  # the requester, mentioned, in the channel (or DMs)
        self.cap = cap  # the bot's cap on generations at Oxen; 0: no cap
        self._retry_delay = retry_delay
        self._holder = holder or Holder.for_process()  # leases the requests it sends
        self._serves = serves  # the servers whose waiting status messages it keeps up
        # Images on their way to Oxen, not yet counted in the store: in all, and per owner.
        self._sending_total = 0
        self._sending: Counter[Owner] = Counter()
        self._ready = 0  # waiting requests that only wait for room under the cap (last pass)
        self.waiting = 0  # requests in line when the pump last looked (within ~1 s of a change)
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._places_due = False
        self._places_at = 0.0
        self._reporting: asyncio.Task[None] | None = None

    # --- admission ----------------------------------------------------------------------------

    async def admit(self, order: Order) -> bool:
        """Reserve room under the bot's cap for a request its owner has room for, or say it
        must wait its turn. If admitted, call release() once it is stored (or refused)."""
        if self.cap <= 0:
            self._reserve(order)
            return True
        in_flight = await self._store.jobs.in_flight()
        # From here to the reservation nothing awaits: racing requests see each other's.
        if self._ready:
            return False  # others are waiting for this room: it is their turn first
        others = in_flight + self._sending_total
        if others and others + order.count > self.cap:
            return False
        self._reserve(order)
        return True

    def release(self, order: Order) -> None:
        """The reserved images are stored (or were refused): the store counts them now."""
        self._sending_total -= order.count
        self._sending[_owner(order)] -= order.count
        if self._sending[_owner(order)] <= 0:
            del self._sending[_owner(order)]

    def _reserve(self, order: Order) -> None:
        self._sending_total += order.count
        self._sending[_owner(order)] += order.count

    async def join(
        self, order: Order, *, owner_limit: int, waits_for_own: bool, owner_in_flight: int
    ) -> LinePlace:
        """Put the request in line; returns where it stands, as far as is known without
        counting the whole line (the pump reports its exact turn within a second)."""
        waiting = await self._store.line.add(order, owner_limit)
        log.info("request from user %s waits its turn (line id %s)", order.requester_id, waiting.id)
        self.wake()  # room may have freed while it was being added
        own = len(await self._store.line.for_user(order.guild_id, order.requester_id))
        return LinePlace(waiting, own, own, owner_in_flight, waits_for_own=waits_for_own)

    async def places(self) -> list[LinePlace]:
        """Every waiting request and where it stands now."""
        places = turns.plan(await self._store.line.snapshot(), self._sending)
        self.waiting = len(places)  # for the metrics: the line as last looked at (no query)
        return places

    # --- the pump -----------------------------------------------------------------------------

    def wake(self) -> None:
        """A generation finished, a request joined or left: see whose turn it is."""
        self._wakeup.set()

    def start(self) -> None:
        if self._task is None:
            self._wakeup.set()  # requests left in line by the last run
            self._task = asyncio.create_task(self._run(), name="imagine-waiting-line")

    async def stop(self) -> None:
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
            self._task = None
        if self._reporting is not None:
            await self._reporting

    async def _run(self) -> None:
        retry_soon = False
        while not self._stopping:
            # Woken when something changes; the tick is a safety net (and, after Oxen was
            # busy, the retry). Places due soon shorten the wait.
            tick = self._retry_delay if retry_soon else _SAFETY_TICK
            if self._places_due and not self._drawing_places():
                tick = min(tick, max(0.0, self._places_at + _PLACES_EVERY - time.monotonic()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), tick)
            woken = self._wakeup.is_set()
            self._wakeup.clear()
            if self._stopping:
                break
            try:
                if woken or not self._places_due:
                    retry_soon = await self.send_what_fits()
                self._report_places_soon()
            except Exception:
                log.exception("the waiting line failed; trying again shortly")
                retry_soon = True

    async def send_what_fits(self) -> bool:
        """Send whoever's turn it is while there is room. Returns True if Oxen was busy and
        the request must be tried again later."""
        self._places_due = True  # whatever happens, places may have moved
        while not self._stopping:
            order = turns.plan(await self._store.line.snapshot(heads_only=True), self._sending)
            ready = [place for place in order if not place.waits_for_own]
            self._ready = len(ready)
            if not ready:
                return False
            front = ready[0].waiting
            intent = await self._take(front)
            if intent is _NO_ROOM:
                return False  # its turn, but no room yet: nobody overtakes it
            if intent is None:
                continue  # cancelled, taken by another process, or its owner's room was taken
            if await self._send(front, intent):
                return True
        return False

    async def _take(self, front: Waiting) -> int | None:
        """Move the front request from the line to an intent to send it, if there is room as
        every process sharing the store sees it now: under its owner's lock (and the cap's), as
        admissions count. ``_NO_ROOM``: the bot is at its cap; None: it is not to be sent now."""
        order = front.order
        keys = [locks.owner(order.guild_id, order.requester_id)]
        if self.cap > 0:
            keys.append(locks.CAP)
        async with self._store.locked(*keys):
            if self.cap > 0:
                others = await self._store.jobs.in_flight() + self._sending_total
                if others and others + order.count > self.cap:
                    return _NO_ROOM
            # The plan was made from a read before the lock: another process may have sent
            # one of this person's requests since.
            usage = await self._store.jobs.usage(order.guild_id, order.requester_id, time.time())
            if not turns.fits_owner(front, usage.in_flight):
                return None
            return await self._store.line.take(front, self._holder.owner, self._holder.seconds)

    def _report_places_soon(self) -> None:
        """Tell the reporters where every waiting request stands, at most once a second, in the
        background: status edits wait for the channel's rate limit, and the pump never waits
        for them (the next request's turn must not wait behind redrawing a thousand places)."""
        if not self._places_due or time.monotonic() - self._places_at < _PLACES_EVERY:
            return
        if self._drawing_places():
            return  # still drawing the last places; when done, it wakes the pump for the newest
        self._reporting = asyncio.create_task(self._report_places(), name="imagine-line-places")

    async def _report_places(self) -> None:
        self._places_due = False
        self._places_at = time.monotonic()
        try:
            # Each process keeps up the status messages of the servers it serves.
            places = await self.places()
            await self._reporter.line_moved([p for p in places if self._serves(p.waiting.guild_id)])
        except Exception:
            log.exception("telling where waiting requests stand failed; the next change retries")
            self._places_due = True
        if self._places_due:
            self._wakeup.set()  # the line moved while these were drawn: draw it again

    def _drawing_places(self) -> bool:
        return self._reporting is not None and not self._reporting.done()

    async def _send(self, front: Waiting, intent: int) -> bool:
        """Send the front request, taken; True if Oxen was busy and it went back to its place."""
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
