"""The audit channel: where a server's admins see every request made there, with its outcome.

One entry per request, posted when its outcome is known (posted, failed, cancelled, refused).
An audit channel that is gone or closed to the bot costs a log line, never a request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable, Sequence
from typing import Any

import discord

from bot.core.ports import Store
from bot.core.types import (
    ImagineRequest,
    InterruptedEnqueue,
    Job,
    JobStatus,
    LinePlace,
    Waiting,
)
from bot.discord_app import render
from bot.oxen import GenerationStatus

log = logging.getLogger(__name__)
DELIVERED = JobStatus.DELIVERED


class AuditLog:
    def __init__(self, client: discord.Client, store: Store) -> None:
        self._client = client
        self._store = store
        self._posting: set[asyncio.Task[None]] = set()

    # --- what is audited ------------------------------------------------------------------------

    async def line_moved(self, places: Sequence[LinePlace]) -> None:
        return None  # entries are written once, at the end

    async def refused(self, request: ImagineRequest, rule: str) -> None:
        """A server rule refused the request (in the background: the refusal is not delayed)."""
        entry = render.AuditEntry(
            requester_id=request.requester_id,
            channel_id=request.channel_id,
            prompt=request.prompt,
            model=request.model or "the default",
            outcome=f"⛔ refused: {rule}",
            negative_prompt=request.negative_prompt,
            edit=request.input_image is not None,
        )
        self._in_background(self._post(request.guild_id, entry))

    async def refresh(self, pending: Iterable[Job]) -> None:
        return None  # entries are written once, at the end

    async def finish(self, job: Job) -> None:
        jobs = await self._store.jobs.of_request(job.request_id)
        await self._post(job.guild_id, _entry(jobs or [job], _outcome(jobs or [job])))

    async def cancelled(self, request: Job | Waiting, by_user_id: int, count: int) -> None:
        outcome = f"🚫 cancelled by <@{by_user_id}> ({count} image{'s' * (count != 1)})"
        if isinstance(request, Waiting):
            outcome += " while waiting in line"
            await self._post(request.guild_id, _waiting_entry(request, outcome))
            return
        jobs = await self._store.jobs.of_request(request.request_id)
        await self._post(request.guild_id, _entry(jobs or [request], outcome))

    async def not_started(self, waiting: Waiting, reason: str) -> None:
        await self._post(waiting.guild_id, _waiting_entry(waiting, f"❌ couldn't start: {reason}"))

    async def interrupted(self, enqueue: InterruptedEnqueue) -> None:
        entry = render.AuditEntry(
            requester_id=enqueue.requester_id,
            channel_id=enqueue.channel_id,
            prompt=enqueue.prompt,
            model="unknown",
            outcome="⚠️ unknown: the bot restarted while sending it to Oxen (the requester was "
            "told to ask again if no image arrives)",
        )
        await self._post(enqueue.guild_id, entry)

    def gallery(self, guild_id: int, embed: discord.Embed) -> None:
        """A gallery share, withdrawal, hide or unhide (posted in the background: the member's
        answer is not delayed). The embed comes from gallery_render.audit_embed."""
        self._in_background(self._send(guild_id, embed))

    async def close(self) -> None:
        """Let entries being posted finish (bounded), at shutdown."""
        if self._posting:
            await asyncio.wait(self._posting, timeout=5)

    # --- posting --------------------------------------------------------------------------------

    def _in_background(self, post: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(post, name="audit-entry")
        self._posting.add(task)
        task.add_done_callback(self._posting.discard)

    async def _post(self, guild_id: int | None, entry: render.AuditEntry) -> None:
        if guild_id is None:
            return  # DMs belong to no server
        await self._send(guild_id, render.audit_embed(entry))

    async def _send(self, guild_id: int, embed: discord.Embed) -> None:
        channel_id = (await self._store.servers.get(guild_id)).audit_channel_id
        if channel_id is None:
            return
        channel = self._client.get_partial_messageable(channel_id, guild_id=guild_id)
        try:
            await channel.send(embed=embed, allowed_mentions=discord.AllowedMentions.none())
        except discord.HTTPException as err:
            log.warning(
                "audit entry for guild %s not posted in channel %s: %s",
                guild_id, channel_id, err.text or err.status,
            )  # fmt: skip


def _entry(jobs: list[Job], outcome: str) -> render.AuditEntry:
    first = jobs[0]
    ids = tuple(j.generation_id for j in jobs)
    return _entry_for(first, first.model, first.params, outcome, ids)


def _waiting_entry(waiting: Waiting, outcome: str) -> render.AuditEntry:
    return _entry_for(waiting, waiting.order.model, waiting.order.params, outcome)


def _entry_for(
    request: Job | Waiting,
    model: str,
    params: dict[str, Any],
    outcome: str,
    generation_ids: tuple[str, ...] = (),
) -> render.AuditEntry:
    negative = params.get("negative_prompt")
    return render.AuditEntry(
        requester_id=request.requester_id,
        channel_id=request.channel_id,
        prompt=request.prompt,
        model=model,
        outcome=outcome,
        generation_ids=generation_ids,
        negative_prompt=negative if isinstance(negative, str) else None,
        edit="input_image" in params,
    )


def _outcome(jobs: list[Job]) -> str:
    """How a finished request ended, in a line."""
    posted = [j for j in jobs if j.outcome == GenerationStatus.SUCCEEDED and j.status is DELIVERED]
    lines = []
    if posted:
        first = posted[0]
        link = (
            f"https://discord.com/channels/{first.guild_id}/{first.channel_id}/"
            f"{first.result_message_id}"
        )
        lines.append(f"✅ posted {len(posted)} of {len(jobs)} ([first]({link}))")
    for job in jobs:
        if job in posted:
            continue
        if job.status is JobStatus.UNDELIVERABLE:
            lines.append(f"⚠️ `{job.generation_id}` made but couldn't be posted anywhere")
        elif job.outcome == GenerationStatus.CANCELLED:
            lines.append(f"🚫 `{job.generation_id}` cancelled: {job.error or 'at Oxen'}")
        else:
            reason = job.error or "Oxen reported a failure"
            lines.append(f"❌ `{job.generation_id}` failed: {reason}")
    return "\n".join(lines)
