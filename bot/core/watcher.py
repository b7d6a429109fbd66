"""The watcher: one background task that follows every pending generation to its outcome.

A pass lists Oxen's active generations once, fetches only the jobs that left the active list, and
hands every finished job to delivery. Push sources (the completion event stream) call
``finish_soon()``; claiming a job before any await makes sure it is finished once even if both
report it.
A failing job is logged and retried on the next pass; it never stops the others or the loop.
In its idle time the watcher also prunes finished jobs older than JOB_RETENTION_DAYS.

Several bot processes may share the store, each with its watcher and its event stream: the
in-memory claim is the fast path inside a process, and a lease in the store (bot.core.leases)
decides across processes. A job is claimed in the store before it is checked at Oxen, finished,
resumed or cancelled, and released when that is done; the lease keeper renews it meanwhile. A
pass leaves jobs another process holds alone, and wakes when the first of those leases expires,
so the jobs of a process that died are taken over within a moment of their lease running out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import replace

from bot.core.leases import Holder
from bot.core.limits import (
    DEFAULT_MAX_GENERATION_AGE_SECONDS,
    DEFAULT_POLL_INTERVAL_SECONDS,
    MAX_CONCURRENT_DELIVERIES,
    MAX_DELIVERY_ATTEMPTS,
    PRUNE_BATCH,
)
from bot.core.log_context import job_context, log_context
from bot.core.metrics import Metrics
from bot.core.open_jobs import OpenJobs
from bot.core.ports import Deliverer, DeliveryFailed, RequestReporter, Store
from bot.core.slots import Slots
from bot.core.text import duration
from bot.core.types import Job, JobStatus, NewJob
from bot.oxen import Generation, GenerationStatus, NotFound, OxenClient, OxenError

log = logging.getLogger(__name__)

_YOUNG_JOB_SECONDS = 30.0
# While events flow and some of our generations may still be queued at Oxen, Oxen's list is
# read this often, so "being made" shows within a few seconds of Oxen starting one.
_STARTED_CHECK_SECONDS = 3.0
_MIN_PASS_GAP = 0.5
_PRUNE_EVERY = 600.0  # seconds between prunes once the backlog of old rows is gone
_LEASE_MARGIN = 0.05  # seconds after another process's lease expires before a pass looks
_RELEASE_TIMEOUT = 5.0  # a lease not given back in time expires by itself
_DAY = 86_400.0


def _nothing() -> None:
    return None


def _everywhere(_guild_id: int | None) -> bool:
    return True


class Watcher:
    def __init__(
        self,
        oxen: OxenClient,
        store: Store,
        delivery: Deliverer,
        *,
        reporter: RequestReporter,
        on_generation_finished: Callable[[], None] = _nothing,
        poll_interval: float = DEFAULT_POLL_INTERVAL_SECONDS,
        max_generation_age: float = DEFAULT_MAX_GENERATION_AGE_SECONDS,
        retention_days: int = 0,
        max_attempts: int = MAX_DELIVERY_ATTEMPTS,
        idle_interval: float = 60.0,
        max_concurrent_deliveries: int = MAX_CONCURRENT_DELIVERIES,
        clock: Callable[[], float] = time.time,
        metrics: Metrics | None = None,
        holder: Holder | None = None,
        serves: Callable[[int | None], bool] = _everywhere,
    ) -> None:
        self._oxen = oxen
        self._store = store
        self._delivery = delivery
        self._reporter = reporter
        # This process's leases in the store; the servers whose status messages it keeps up.
        self._holder = holder or Holder.for_process()
        self._serves = serves
        self._held: set[str] = set()  # claimed in the store, being worked on
        self._lost: set[str] = set()  # ...but another process took it over (late renewals)
        self._lease_wake_at: float | None = None  # store clock: another's lease expires
        self._next_intents_at = 0.0  # monotonic: look for prompts whose sender died
        # Told when a generation stops counting as in flight (the waiting line may move).
        self._generation_finished = on_generation_finished
        self._retention = retention_days * _DAY  # 0: keep every row
        self._next_prune_at = 0.0
        self._status_refresh: asyncio.Task[None] | None = None
        self._poll_interval = poll_interval
        self._max_age = max_generation_age
        self._max_attempts = max_attempts
        self._idle_interval = idle_interval
        self._clock = clock
        self._wakeup = asyncio.Event()
        self._pass_now = False  # a wake() asked for a pass (else the event only moves the tick)
        self._awaiting_start = False  # some of our generations may still be queued at Oxen
        self._refresh_again = False
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._in_flight: set[str] = set()
        self._background: set[asyncio.Task[bool]] = set()
        self._delivery_slots = Slots(max_concurrent_deliveries)
        # Told by the push source: while events flow, polling is only a slow safety net.
        self._push_healthy = False
        self._newest_pending_at = 0.0
        self._last_pass_at = 0.0
        self._metrics = metrics or Metrics(process=False)
        # What is open now, for the gauges: kept from the passes' reads and what happens between.
        self.open_jobs = OpenJobs(clock=clock)

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="imagine-watcher")

    def wake(self) -> None:
        """Run a pass now instead of waiting for the tick (e.g. the event stream reconnected)."""
        self._pass_now = True
        self._wakeup.set()

    def job_added(self, jobs: Iterable[NewJob] = ()) -> None:
        """A new job was stored. While events flow its completion arrives by push, and the
        safety-net tick (which keeps running while events flow) is soon enough: no extra poll."""
        ids = [job.generation_id for job in jobs]
        self.open_jobs.added(ids)
        self._metrics.generations_enqueued(len(ids))
        if not self._push_healthy:
            self.wake()
        elif not self._awaiting_start:
            # Its completion comes by push, but "being made" needs a look at Oxen's list: bring
            # the next tick close (one list for every job added meanwhile), no pass right now.
            self._awaiting_start = True
            self._wakeup.set()

    def push_changed(self, healthy: bool) -> None:
        """The completion event stream came up or went down."""
        was_healthy, self._push_healthy = self._push_healthy, healthy
        if was_healthy and not healthy:
            self.wake()  # back to polling at once, not after the long healthy tick

    @property
    def push_healthy(self) -> bool:
        return self._push_healthy

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def died(self) -> bool:
        """The loop ended without stop() (cancelled or crashed): nothing follows the jobs now.
        False before start() and after a clean stop()."""
        return self._task is not None and self._task.done() and not self._stopping

    async def stop(self) -> None:
        """Take no new pass; let the pass in flight finish."""
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            # A loop that died (cancelled from outside) has nothing left to finish.
            await asyncio.gather(self._task, return_exceptions=True)
        while self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        if self._status_refresh is not None:
            await asyncio.gather(self._status_refresh, return_exceptions=True)

    async def _run(self) -> None:
        await self._explain_when_due()
        while not self._stopping:
            # Cleared before the pass, so a wake() during the pass triggers the next one at once.
            self._wakeup.clear()
            self._pass_now = False
            self._last_pass_at = time.monotonic()
            has_open = True
            try:
                has_open = await self.run_pass()
            except Exception:
                # Never let the loop die: log, wait a tick, try again.
                log.exception("watcher pass failed; retrying in %.1fs", self._poll_interval)
            if self._stopping:
                break
            await self._prune_when_due()
            await self._explain_when_due()
            # While events flow the tick continues even with nothing open, so a job added then
            # (without a wake) is polled within one safety-net tick.
            busy = has_open or self._push_healthy
            timeout = self.next_interval() if busy else self._idle_interval
            if self._lease_wake_at is not None:
                # Another process's lease on a job runs out then (it died?): look at once.
                until = self._lease_wake_at - self._clock() + _LEASE_MARGIN
                timeout = min(timeout, max(until, 0.0))
            await self._sleep_until(time.monotonic() + timeout)
            # Coalesce bursts of wakes (many /imagine at once) into at most one pass per gap.
            gap = self._last_pass_at + min(_MIN_PASS_GAP, self._poll_interval) - time.monotonic()
            if gap > 0 and not self._stopping:
                await asyncio.sleep(gap)

    async def _sleep_until(self, deadline: float) -> None:
        """Wait for the deadline or a wake(); a new job while events flow only brings the
        deadline closer (to when "being made" must show)."""
        while not self._pass_now and not self._stopping:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            self._wakeup.clear()
            if self._awaiting_start and self._push_healthy:
                deadline = min(deadline, time.monotonic() + _STARTED_CHECK_SECONDS)

    def next_interval(self) -> float:
        """Seconds to the next poll: short while jobs are young and events are down (Oxen asks
        for 2-5 s for images), longer once jobs are older. While events flow, completions come
        by push: a look at Oxen's list every few seconds only while some of our generations may
        still be queued there (to show "being made"), else a slow safety net."""
        if self._push_healthy:
            if self._awaiting_start:
                return _STARTED_CHECK_SECONDS
            return min(15.0, self._poll_interval * 5)
        if self._clock() - self._newest_pending_at <= _YOUNG_JOB_SECONDS:
            return self._poll_interval
        return min(5.0, self._poll_interval * 2.5)

    async def _prune_when_due(self) -> None:
        """Delete finished rows past the retention, a small batch at a time, so the store never
        stalls; quotas only look back to the start of the UTC day, so they are unaffected."""
        if not self._retention or time.monotonic() < self._next_prune_at:
            return
        try:
            pruned = await self._store.jobs.prune(self._clock() - self._retention, PRUNE_BATCH)
        except Exception:
            log.exception("pruning old jobs failed; trying again later")
            pruned = 0
        if pruned:
            log.info("pruned %d finished jobs older than the retention", pruned)
        # A full batch means more are due: the next idle moment takes the next batch.
        self._next_prune_at = time.monotonic() + (1.0 if pruned >= PRUNE_BATCH else _PRUNE_EVERY)

    async def _explain_when_due(self) -> None:
        """Prompts whose sender died mid-enqueue (this process's earlier run, or another
        process): tell their requesters. At start, then once a lease period."""
        if time.monotonic() < self._next_intents_at:
            return
        self._next_intents_at = time.monotonic() + self._holder.seconds
        try:
            await self.explain_interrupted_enqueues()
        except Exception:
            log.exception("could not explain interrupted enqueues; trying again later")

    # --- one pass -----------------------------------------------------------------------------

    async def run_pass(self) -> bool:
        """Check every open job once. Returns whether any job is still open."""
        reading = self.open_jobs.read_started()
        try:
            jobs = await self._store.jobs.open()
        except BaseException:
            self.open_jobs.read_failed(reading)
            raise
        self.open_jobs.read_done(reading, jobs)
        self._lease_wake_at = None
        if not jobs:
            return False
        # Jobs another process works on now are its own; the first of those leases to run out
        # (it died?) brings the next pass forward.
        now = self._clock()
        others = [j for j in jobs if j.leased_by_another(self._holder.owner, now)]
        self._lease_wake_at = min((j.lease_expires_at or now for j in others), default=None)
        theirs = {j.generation_id for j in others}
        pending = [job for job in jobs if job.status is JobStatus.PENDING]
        self._newest_pending_at = max((job.created_at for job in pending), default=0.0)
        work: list[tuple[Job, Awaitable[None]]] = []
        if pending:
            try:
                active = {g.generation_id: g for g in await self._oxen.list_generations()}
            except OxenError as err:
                log.warning("could not list Oxen's active generations (%s); retrying", err)
                return True
            pending = await self._note_started(pending, active)
            self._awaiting_start = any(job.started_at is None for job in pending)
            for job in pending:
                generation = active.get(job.generation_id)
                still_running = generation is not None and not generation.status.is_terminal
                if still_running and not self._stalled(job):
                    continue  # the common case: nothing to do, no request made
                if job.generation_id in theirs or job.generation_id in self._in_flight:
                    continue  # being checked or finished right now, here or elsewhere
                work.append((job, self._check_pending(job, generation)))
            self._refresh_status(pending)
        # Outcome recorded but not confirmed posted (e.g. a crash mid-delivery, here or in
        # another process whose lease ran out).
        work += [
            (job, self.resume(job))
            for job in jobs
            if job.status is JobStatus.DELIVERING
            and job.generation_id not in theirs
            and job.generation_id not in self._in_flight
        ]
        await asyncio.gather(*(self._with_slot(job, item) for job, item in work))
        return True

    async def _note_started(self, pending: list[Job], active: dict[str, Generation]) -> list[Job]:
        """Record which jobs Oxen has started, for the status messages."""
        started: dict[str, float] = {}
        for job in pending:
            generation = active.get(job.generation_id)
            processing = generation is not None and generation.status is GenerationStatus.PROCESSING
            if job.started_at is None and generation is not None and processing:
                started[job.generation_id] = float(generation.started_at or self._clock())
        if not started:
            return pending
        await self._store.jobs.set_started(started)
        for generation_id in started:
            self.open_jobs.started(generation_id)
        return [
            replace(job, started_at=started[job.generation_id])
            if job.generation_id in started
            else job
            for job in pending
        ]

    def _left_oxen(self) -> None:
        """A generation stopped counting as at Oxen: the waiting line may move, and the places
        of the requests queued behind it move up."""
        self._generation_finished()
        self._refresh_status()

    def _refresh_status(self, pending: list[Job] | None = None) -> None:
        """Update status messages in the background; a slow Discord never holds up a pass.
        ``None``: read what is open from the store (after a job finished or was cancelled: the
        places behind it move up at once, without a call to Oxen)."""
        if self._status_refresh is not None and not self._status_refresh.done():
            self._refresh_again = True  # coalesced: one more round when this one ends
            return
        self._status_refresh = asyncio.create_task(
            self._guarded_refresh(pending), name="imagine-status-refresh"
        )

    async def _guarded_refresh(self, pending: list[Job] | None) -> None:
        while True:
            self._refresh_again = False
            try:
                if pending is None:
                    jobs = await self._store.jobs.open()
                    pending = [job for job in jobs if job.status is JobStatus.PENDING]
                # Each process keeps up the status messages of the servers it serves (their
                # requests came through it); a result's final word comes from whoever posts it.
                await self._reporter.refresh([j for j in pending if self._serves(j.guild_id)])
            except Exception:
                log.exception("updating status messages failed; the next pass retries")
            if not self._refresh_again or self._stopping:
                return
            pending = None

    async def _with_slot(self, job: Job, work: Awaitable[None]) -> None:
        async with self._delivery_slots.held():
            await self._guarded(job, work)

    def _closed(self, job: Job, outcome: str, *, posted: bool = False) -> None:
        """The job's outcome reached Discord (``posted``: as an image or a message), or never
        will; counted once here."""
        learnt_at = self.open_jobs.closed(job.generation_id)
        self._metrics.generation_finished(outcome)
        if posted and outcome == GenerationStatus.SUCCEEDED:
            self._metrics.request_took(self._clock() - job.created_at)
            if learnt_at is not None:
                self._metrics.delivery_took(time.monotonic() - learnt_at)

    def _stalled(self, job: Job) -> bool:
        return self._clock() - job.created_at > self._max_age

    async def explain_interrupted_enqueues(self) -> None:
        """Prompts that were on their way to Oxen when the bot died: tell their requesters.
        Claimed in the store first, so only one process tells each."""
        claimed = await self._store.intents.claim_interrupted(
            self._holder.owner, self._holder.seconds
        )
        for enqueue in claimed:
            with log_context(
                request_id=enqueue.request_id, guild_id=enqueue.guild_id,
                channel_id=enqueue.channel_id, user_id=enqueue.requester_id,
            ):  # fmt: skip
                try:
                    await self._delivery.explain_interrupted(enqueue)
                except DeliveryFailed as err:
                    log.error("could not tell user %s about an interrupted enqueue: %s",
                              enqueue.requester_id, err)  # fmt: skip
                await self._reporter.interrupted(enqueue)
                await self._store.intents.forget(enqueue.id)

    async def _check_pending(self, job: Job, active: Generation | None) -> None:
        """Ask Oxen how a job that left its active list ended (or cancel one that stalled),
        under a claim: one process asks, and finishes it."""
        async with self._claim(job.generation_id, seen=job) as claimed:
            if claimed is None:
                return  # finished meanwhile, or another process works on it
            if claimed.status is JobStatus.DELIVERING:
                await self._resume_claimed(claimed)  # its outcome was recorded, not posted
                return
            await self._check_claimed(claimed, active)

    async def _check_claimed(self, job: Job, active: Generation | None) -> None:
        if active is not None and not active.status.is_terminal:
            await self._cancel_stalled(job)  # only stalled jobs get here while still active
            return
        try:
            generation = await self._oxen.get_generation(job.generation_id)
        except NotFound:
            await self._finish_claimed(
                job,
                GenerationStatus.FAILED,
                error="Oxen no longer knows this generation, so its result is lost. "
                "Please run /imagine again.",
            )
            return
        if generation.status.is_terminal:
            await self._finish_claimed(
                job,
                generation.status,
                result_url=generation.result_url,
                error=generation.error_message,
            )
        elif self._stalled(job):
            await self._cancel_stalled(job)

    async def _cancel_stalled(self, job: Job) -> None:
        limit = duration(self._max_age)
        with contextlib.suppress(NotFound):
            await self._oxen.cancel(job.generation_id)
        log.warning("generation %s stalled past %s; cancelled", job.generation_id, limit)
        await self._finish_claimed(
            job,
            GenerationStatus.CANCELLED,
            error=f"it was still unfinished after {limit}, so I cancelled it at Oxen",
        )

    # --- cancelling (the Cancel button) ----------------------------------------------------------

    async def cancel(self, generation_id: str, reason: str) -> bool:
        """Cancel one generation at Oxen. Returns False if it was already finished: then it is
        delivered as usual, since it was paid for. OxenError propagates (nothing changed)."""
        with log_context(generation_id=generation_id):
            async with self._claim(generation_id) as job:
                if job is None or job.status is not JobStatus.PENDING:
                    return False  # finished, or being finished right now (here or elsewhere)
                with job_context(job):
                    return await self._cancel_pending(job, reason)

    async def _cancel_pending(self, job: Job, reason: str) -> bool:
        generation_id = job.generation_id
        with contextlib.suppress(NotFound):
            await self._oxen.cancel(generation_id)
        # A DELETE on a finished generation is a no-op at Oxen: ask how it ended.
        try:
            generation: Generation | None = await self._oxen.get_generation(generation_id)
        except NotFound:
            generation = None
        if generation is not None and generation.status in _FINISHED_ANYWAY:
            await self._store.jobs.record_outcome(
                generation_id, generation.status.value,
                result_url=generation.result_url, error=generation.error_message,
            )  # fmt: skip
            self.open_jobs.outcome_known(generation_id)
            self._left_oxen()
            refreshed = await self._store.jobs.get(generation_id)
            assert refreshed is not None
            await self._guarded(refreshed, self._post(refreshed))
            return False
        await self._store.jobs.record_outcome(
            generation_id, GenerationStatus.CANCELLED.value, result_url=None, error=reason
        )
        self._left_oxen()
        # The status message says it was cancelled; no other post is needed.
        await self._store.jobs.mark_delivered(generation_id, job.status_message_id)
        self._closed(job, GenerationStatus.CANCELLED)
        log.info("generation %s %s", generation_id, reason)
        return True

    # --- finishing a job (called by passes and by push sources) ----------------------------------

    def finish_soon(
        self,
        generation_id: str,
        status: GenerationStatus,
        *,
        result_url: str | None = None,
        error: str | None = None,
    ) -> None:
        """finish() in the background, so a push source never waits for a delivery."""
        if self._stopping:
            return  # the next start resumes it from the store
        task = asyncio.create_task(
            self._finish_with_slot(generation_id, status, result_url=result_url, error=error),
            name=f"imagine-finish-{generation_id}",
        )
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _finish_with_slot(
        self, generation_id: str, status: GenerationStatus, *, result_url: str | None,
        error: str | None,
    ) -> bool:  # fmt: skip
        async with self._delivery_slots.held():
            try:
                with log_context(generation_id=generation_id):
                    return await self.finish(
                        generation_id, status, result_url=result_url, error=error
                    )
            except Exception:
                log.exception("finishing generation %s failed; polling will retry", generation_id)
                return False

    async def finish(
        self,
        generation_id: str,
        status: GenerationStatus,
        *,
        result_url: str | None = None,
        error: str | None = None,
    ) -> bool:
        """Record a terminal outcome and deliver it. Returns False for unknown or finished jobs,
        and for jobs another process is finishing (every process hears every event)."""
        async with self._claim(generation_id) as job:
            if job is None or job.status is not JobStatus.PENDING:
                return False
            await self._finish_claimed(job, status, result_url=result_url, error=error)
            return True

    async def _finish_claimed(
        self,
        job: Job,
        status: GenerationStatus,
        *,
        result_url: str | None = None,
        error: str | None = None,
    ) -> None:
        generation_id = job.generation_id
        await self._store.jobs.record_outcome(
            generation_id, status.value, result_url=result_url, error=error
        )
        self.open_jobs.outcome_known(generation_id)
        self._left_oxen()
        recorded = await self._store.jobs.get(generation_id)
        assert recorded is not None
        await self._guarded(recorded, self._post(recorded))

    async def resume(self, job: Job) -> None:
        """Deliver a job whose outcome was recorded earlier (e.g. before a crash, here or in a
        process whose lease ran out).

        The earlier attempt may have posted before dying, so look for that post first.
        """
        async with self._claim(job.generation_id, seen=job) as current:
            # The pass read this job earlier; a push source may have delivered it since.
            if current is None or current.status is not JobStatus.DELIVERING:
                return
            await self._resume_claimed(current)

    async def _resume_claimed(self, job: Job) -> None:
        existing = await self._delivery.find_existing(job)
        if existing is not None:
            await self._store.jobs.mark_delivered(job.generation_id, existing)
            self._closed(job, _outcome(job))
            log.info("generation %s was already posted (%s)", job.generation_id, existing)
            return
        await self._post(job)

    @contextlib.asynccontextmanager
    async def _claim(
        self, generation_id: str, *, seen: Job | None = None
    ) -> AsyncIterator[Job | None]:
        """Claim a job, and yield it as it is now (None: unknown, finished, or someone else
        works on it). In memory first, synchronously before any await, so two reporters in this
        process never both work on it; then a lease in the store, so two processes never do.
        The lease is renewed meanwhile by the lease keeper and given back at the end.
        ``seen``: the job as a pass read it (a lease it showed expired is a takeover)."""
        if generation_id in self._in_flight:
            yield None
            return
        self._in_flight.add(generation_id)
        try:
            holder = self._holder
            job = await self._store.jobs.claim(generation_id, holder.owner, holder.seconds)
            if job is None:
                yield None
                return
            if seen is not None and seen.lease_owner not in (None, holder.owner):
                self._metrics.lease_taken_over()
                log.info("took generation %s over from %s", generation_id, seen.lease_owner)
            self._held.add(generation_id)
            try:
                yield job
            finally:
                self._held.discard(generation_id)
                self._lost.discard(generation_id)
                await self._release(generation_id)
        finally:
            self._in_flight.discard(generation_id)

    async def _release(self, generation_id: str) -> None:
        """Give the lease back (a no-op once delivered); one not given back expires."""
        try:
            async with asyncio.timeout(_RELEASE_TIMEOUT):
                await self._store.jobs.release(generation_id, self._holder.owner)
        except Exception as err:
            log.warning("could not give back the lease on %s (%r); it expires", generation_id, err)

    def held(self) -> set[str]:
        """The jobs this process holds leases on now (for the lease keeper)."""
        return set(self._held)

    def lease_lost(self, generation_ids: set[str]) -> None:
        """Another process took these jobs over (this one renewed too late): a delivery not
        posted yet stops before it posts; the other process delivers it."""
        self._lost |= generation_ids & self._held

    async def _post(self, job: Job) -> None:
        try:
            send = await self._delivery.prepare(job)  # download and re-encode, in the slot
            self._delivery_slots.give_back()  # waiting for the channel's turn needs none
            if job.generation_id in self._lost:
                log.warning("generation %s: another process took it over; not posting here",
                            job.generation_id)  # fmt: skip
                return
            message_id = await send()
        except DeliveryFailed as err:
            await self._store.jobs.mark_undeliverable(job.generation_id, str(err))
            self._closed(job, "undeliverable")
            log.error(
                "generation %s undeliverable (guild %s, channel %s, user %s): %s",
                job.generation_id, job.guild_id, job.channel_id, job.requester_id, err,
            )  # fmt: skip
        else:
            await self._store.jobs.mark_delivered(job.generation_id, message_id)
            self._closed(job, _outcome(job), posted=True)
            log.info("generation %s delivered (%s)", job.generation_id, job.outcome)
        if not await self._store.jobs.open_in_request(job.request_id):
            await self._reporter.finish(job)

    async def _guarded(self, job: Job, work: Awaitable[None]) -> None:
        """Run one job's work; a failure is logged and counted, never raised to the pass."""
        with job_context(job):
            await self._guarded_work(job, work)

    async def _guarded_work(self, job: Job, work: Awaitable[None]) -> None:
        try:
            await work
        except Exception as err:
            self._metrics.job_attempt_failed()
            attempts = await self._store.jobs.record_attempt(job.generation_id)
            if attempts >= self._max_attempts and job.status is not JobStatus.PENDING:
                reason = type(err).__name__
                await self._store.jobs.mark_undeliverable(job.generation_id, reason)
                self._closed(job, "undeliverable")
                log.error(
                    "generation %s undeliverable after %d attempts (guild %s, channel %s, "
                    "user %s): %s",
                    job.generation_id, attempts, job.guild_id, job.channel_id,
                    job.requester_id, err,
                )  # fmt: skip
            else:
                log.warning(
                    "generation %s: attempt %d failed; will retry: %r",
                    job.generation_id, attempts, err, exc_info=True,
                )  # fmt: skip


_FINISHED_ANYWAY = (GenerationStatus.SUCCEEDED, GenerationStatus.FAILED)
_TERMINAL = frozenset(s.value for s in GenerationStatus if s.is_terminal)


def _outcome(job: Job) -> str:
    """The job's outcome as a metric label: Oxen's terminal status."""
    return job.outcome if job.outcome in _TERMINAL else GenerationStatus.FAILED.value
