"""Status messages: one per request, edited only when what it says changes.

Oxen gives no queue position, so the position shown is our own: the request's place among this
server's generations that Oxen has not started yet, or its place in the bot's waiting line.
Edits go through the channel's outbox (bot.discord_app.outbox), which sends them on the
request's interaction token while it is valid and on the bot's own permissions after (the status
message is the bot's own), so they keep working after the token expires; in a saturated channel
it sends results first and merges or drops intermediate edits, never a request's final one. Each
message is edited at most once per ``min_edit_gap`` seconds: an edit that comes sooner waits for
its turn (coalesced with any newer text), so a status is never left stale until some later pass.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence

import discord

from bot.core.limits import DEFAULT_STATUS_EDIT_INTERVAL_SECONDS
from bot.core.ports import Store
from bot.core.types import ImagineRequest, InterruptedEnqueue, Job, JobStatus, LinePlace, Waiting
from bot.discord_app import render
from bot.discord_app.buttons import Buttons
from bot.discord_app.outbox import Outbox
from bot.discord_app.posts import Edit, EditOutcome
from bot.oxen import GenerationStatus

log = logging.getLogger(__name__)

# Waiting requests whose status is redrawn each time the line moves (the first in turn); the
# rest catch up as they come near the front.
_LINE_SHOWN = 200


class StatusMessages:
    def __init__(
        self,
        client: discord.Client,
        store: Store,
        buttons: Buttons,
        outbox: Outbox,
        *,
        min_edit_gap: float = DEFAULT_STATUS_EDIT_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._outbox = outbox
        self._store = store
        self._buttons = buttons
        self._min_edit_gap = min_edit_gap
        self._clock = clock
        self._shown: dict[int, str] = {}  # status message id -> the text it shows
        self._edited_at: dict[int, float] = {}
        self._gone: set[int] = set()  # deleted by someone; results still get posted
        # An edit that came too soon after the last one waits for its turn; a newer text for the
        # same message replaces it (coalesced), and the request's final word cancels it.
        self._later: dict[int, tuple[Job | Waiting, str]] = {}
        self._timers: dict[int, asyncio.Task[None]] = {}
        self._line_places: dict[int, int] = {}  # waiting id -> its place last shown

    def showing(self, message_id: int, text: str) -> None:
        """The message was just posted or edited elsewhere with this text."""
        self._shown[message_id] = text
        self._edited_at[message_id] = self._clock()

    async def refresh(self, pending: Iterable[Job]) -> None:
        """Bring every open request's status message up to date (throttled per message)."""
        pending = list(pending)
        queued: dict[int | None, list[Job]] = defaultdict(list)
        for job in pending:
            if job.status is JobStatus.PENDING and not job.is_processing:
                queued[job.guild_id].append(job)
        positions = {
            guild: {job.request_id: index for index, job in reversed(list(enumerate(jobs, 1)))}
            for guild, jobs in queued.items()
        }
        edits = []
        for jobs in render.group_requests(pending):
            first = jobs[0]
            if first.status_message_id is None:
                continue
            started = [j.started_at for j in jobs if j.started_at is not None]
            progress = render.Progress(
                prompt=first.prompt,
                model=first.model,
                count=first.batch_size,
                position=positions.get(first.guild_id, {}).get(first.request_id),
                started_at=min(started) if started else None,
                delivered=first.batch_size - len(jobs),
            )
            edits.append(self._maybe_edit(first, render.progress_status(progress)))
        await asyncio.gather(*edits)

    async def line_moved(self, places: Sequence[LinePlace]) -> None:
        """Bring the status messages of waiting requests up to date. A place that moved back
        (someone with nothing being made went first) says so."""
        edits: list[Awaitable[None]] = []
        shown: dict[int, int] = {}
        for place in places:
            waiting = place.waiting
            before = self._line_places.get(waiting.id)
            if place.line_place is not None:
                shown[waiting.id] = place.line_place
            if waiting.status_message_id is None or len(edits) >= _LINE_SHOWN:
                continue
            moved_back = (
                before if place.line_place is not None and before and place.line_place > before
                else None
            )  # fmt: skip
            order = waiting.order
            text = render.waiting_status(
                order.prompt, order.model, order.count, place, moved_back_from=moved_back
            )
            edits.append(self._maybe_edit(waiting, text))
        self._line_places = shown
        await asyncio.gather(*edits)

    async def finish(self, job: Job) -> None:
        """Every generation of the job's request is finished: say how it went, drop Cancel."""
        if job.status_message_id is None:
            return
        jobs = await self._store.jobs.of_request(job.request_id)
        failed = sum(
            1
            for j in jobs
            if j.outcome != GenerationStatus.SUCCEEDED or j.status is JobStatus.UNDELIVERABLE
        )
        first_post = next((j.result_message_id for j in jobs if j.result_message_id), None)
        link = (
            f"https://discord.com/channels/{job.guild_id or '@me'}/{job.channel_id}/{first_post}"
            if first_post and job.guild_id
            else None
        )  # a post that fell back to DMs lives elsewhere: no link
        progress = render.Progress(
            job.prompt, job.model, job.batch_size, delivered=len(jobs) - failed, failed=failed,
            result_url=link,
        )  # fmt: skip
        await self._final(job, render.final_status(progress))

    async def cancelled(self, request: Job | Waiting, by_user_id: int, count: int) -> None:
        """Someone pressed Cancel: the status message says who, and loses its button."""
        text = render.cancelled_status(request.prompt, by_user_id, count)
        await self._final(request, text)

    async def not_started(self, waiting: Waiting, reason: str) -> None:
        await self._final(waiting, render.not_started_status(waiting.prompt, reason))

    async def interrupted(self, enqueue: InterruptedEnqueue) -> None:
        await self._final(enqueue, render.interrupted_status(enqueue.prompt))

    async def refused(self, request: ImagineRequest, rule: str) -> None:
        return None  # refused before a status message existed: the refusal was the answer

    async def _final(self, request: Job | Waiting | InterruptedEnqueue, text: str) -> None:
        """The request's last word: the Cancel button goes, and no earlier text comes after."""
        message_id = request.status_message_id
        if message_id is None:
            return
        self._later.pop(message_id, None)
        timer = self._timers.pop(message_id, None)
        if timer is not None:
            timer.cancel()
        await self._edit(request, text, view=None, final=True)
        self._forget(message_id)

    async def _maybe_edit(self, job: Job | Waiting, text: str) -> None:
        message_id = job.status_message_id
        assert message_id is not None
        if self._shown.get(message_id) == text:
            self._later.pop(message_id, None)  # already says it
            return
        last = self._edited_at.get(message_id)
        wait = 0.0 if last is None else last + self._min_edit_gap - self._clock()
        if wait > 0:
            self._later[message_id] = (job, text)  # the newest text wins
            if message_id not in self._timers:
                self._timers[message_id] = asyncio.create_task(
                    self._edit_later(message_id, wait), name="imagine-status-edit"
                )
            return
        await self._edit(job, text, view=self._buttons.status_view(job.request_id))

    async def _edit_later(self, message_id: int, wait: float) -> None:
        try:
            await asyncio.sleep(wait)
        finally:
            self._timers.pop(message_id, None)
        later = self._later.pop(message_id, None)
        if later is not None:
            job, text = later
            await self._maybe_edit(job, text)

    async def close(self) -> None:
        """Shutdown: edits still waiting for their turn are dropped (the next start redraws)."""
        timers = list(self._timers.values())
        for timer in timers:
            timer.cancel()
        await asyncio.gather(*timers, return_exceptions=True)

    async def _edit(
        self,
        request: Job | Waiting | InterruptedEnqueue,
        text: str,
        *,
        view: discord.ui.View | None,
        final: bool = False,
    ) -> None:
        """Handed to the outbox (it returns at once); ``final``: the request's last word."""
        message_id = request.status_message_id
        assert message_id is not None
        if message_id in self._gone:
            return
        edit = Edit(
            request.channel_id,
            request.guild_id,
            message_id,
            {"content": text, "view": view},
            final=final,
        )
        edit.done.append(lambda outcome: self._edited(message_id, text, outcome))
        self._outbox.edit(edit)
        self.showing(message_id, text)

    def _edited(self, message_id: int, text: str, outcome: EditOutcome) -> None:
        if outcome is EditOutcome.GONE:
            self._gone.add(message_id)  # deleted by someone: not an error
        elif outcome is not EditOutcome.SENT and self._shown.get(message_id) == text:
            # Dropped by a saturated channel (or refused): a later refresh may say it again.
            self._shown.pop(message_id, None)

    def _forget(self, message_id: int) -> None:
        self._shown.pop(message_id, None)
        self._edited_at.pop(message_id, None)
