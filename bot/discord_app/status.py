"""Status messages: one per request, edited only when what it says changes.

Oxen gives no queue position, so the position shown is our own: the request's place among this
server's generations that Oxen has not started yet, or its place in the bot's waiting line.
Edits go through the bot's channel permissions (the status message is the bot's own), so they
keep working after the interaction token expires, and each message is edited at most once per
``min_edit_gap`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable

import discord

from bot.core.limits import DEFAULT_STATUS_EDIT_INTERVAL_SECONDS
from bot.core.ports import Store
from bot.core.types import ImagineRequest, InterruptedEnqueue, Job, JobStatus, Waiting
from bot.discord_app import render
from bot.discord_app.buttons import Buttons
from bot.oxen import GenerationStatus

log = logging.getLogger(__name__)

# Waiting requests whose place in line is kept up to date on every pass; the rest catch up as
# the line moves (each message is edited at most once per min_edit_gap anyway).
_LINE_SHOWN = 200


class StatusMessages:
    def __init__(
        self,
        client: discord.Client,
        store: Store,
        buttons: Buttons,
        *,
        min_edit_gap: float = DEFAULT_STATUS_EDIT_INTERVAL_SECONDS,
        max_concurrent_edits: int = 4,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._store = store
        self._buttons = buttons
        self._min_edit_gap = min_edit_gap
        self._clock = clock
        self._shown: dict[int, str] = {}  # status message id -> the text it shows
        self._edited_at: dict[int, float] = {}
        self._gone: set[int] = set()  # deleted by someone; results still get posted
        self._edits = asyncio.Semaphore(max_concurrent_edits)

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
        edits += [
            self._maybe_edit(waiting, render.waiting_status(waiting.prompt, waiting.order.model,
                                                            waiting.order.count, place))
            for place, waiting in enumerate(await self._store.line.in_order(_LINE_SHOWN), 1)
            if waiting.status_message_id is not None
        ]  # fmt: skip
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
        """The request's last word: the Cancel button goes."""
        if request.status_message_id is None:
            return
        await self._edit(request, text, view=None)
        self._forget(request.status_message_id)

    async def _maybe_edit(self, job: Job | Waiting, text: str) -> None:
        assert job.status_message_id is not None
        if self._shown.get(job.status_message_id) == text:
            return
        last = self._edited_at.get(job.status_message_id)
        if last is not None and self._clock() - last < self._min_edit_gap:
            return  # the next pass brings it up to date
        await self._edit(job, text, view=self._buttons.status_view(job.request_id))

    async def _edit(
        self,
        request: Job | Waiting | InterruptedEnqueue,
        text: str,
        *,
        view: discord.ui.View | None,
    ) -> None:
        message_id = request.status_message_id
        assert message_id is not None
        if message_id in self._gone:
            return
        channel = self._client.get_partial_messageable(
            request.channel_id, guild_id=request.guild_id
        )
        async with self._edits:
            try:
                await channel.get_partial_message(message_id).edit(content=text, view=view)
            except discord.NotFound:
                self._gone.add(message_id)  # deleted by someone: not an error
                return
            except discord.HTTPException as err:
                log.info("status message %s not updated: %s", message_id, err.text or err.status)
                return
        self.showing(message_id, text)

    def _forget(self, message_id: int) -> None:
        self._shown.pop(message_id, None)
        self._edited_at.pop(message_id, None)
