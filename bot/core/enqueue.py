"""Sending a checked request to Oxen and recording what Oxen accepted, under an enqueue intent.

The intent is written before the request leaves (by the caller), so if the bot dies before
Oxen's answer is recorded the next start tells the requester instead of silently dropping the
prompt. The accepted generations are stored before anyone is told anything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from bot.core.log_context import log_context
from bot.core.ports import Store
from bot.core.types import NewJob, Order
from bot.oxen import OxenClient

log = logging.getLogger(__name__)


class NothingQueued(Exception):
    """Oxen answered without a generation."""


class Enqueuer:
    def __init__(
        self, oxen: OxenClient, store: Store, *, on_jobs_added: Callable[[Sequence[NewJob]], None]
    ) -> None:
        self._oxen = oxen
        self._store = store
        self._on_jobs_added = on_jobs_added  # the watcher: new jobs to follow

    async def send(
        self,
        order: Order,
        intent: int,
        *,
        request_id: str | None = None,
        status_message_id: int | None = None,
    ) -> list[str]:
        """Enqueue at Oxen and store the jobs in place of the intent; returns the generation ids.
        OxenError and NothingQueued propagate with nothing stored and the intent left for the
        caller to settle (forget it, or put the request back in line, atomically)."""
        with log_context(
            request_id=request_id, guild_id=order.guild_id, channel_id=order.channel_id,
            user_id=order.requester_id,
        ):  # fmt: skip
            return await self._send(order, intent, request_id, status_message_id)

    async def _send(
        self, order: Order, intent: int, request_id: str | None, status_message_id: int | None
    ) -> list[str]:
        queued = await self._oxen.enqueue(order.model, num_generations=order.count, **order.params)
        if not queued:
            raise NothingQueued
        ids = [g.generation_id for g in queued]
        jobs = [
            NewJob(
                generation_id=generation_id,
                guild_id=order.guild_id,
                channel_id=order.channel_id,
                requester_id=order.requester_id,
                prompt=order.prompt,
                model=order.model,
                params=order.params,
                batch_index=index,
                batch_size=len(ids),
                upload_limit=order.upload_limit,
                request_id=request_id or ids[0],
                parent_id=order.parent_id,
                status_message_id=status_message_id,
            )
            for index, generation_id in enumerate(ids)
        ]
        await self._store.intents.end(intent, jobs)
        with log_context(generation_ids=ids, request_id=jobs[0].request_id):
            log.info(
                "queued %s for user %s in channel %s", ids, order.requester_id, order.channel_id
            )
        self._on_jobs_added(jobs)
        return ids
