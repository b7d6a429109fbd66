"""Enqueue intents: a prompt is recorded before it is sent to Oxen, and replaced by its jobs
once Oxen answers. A row left behind by a crash means the outcome is unknown."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bot.core.types import InterruptedEnqueue, NewJob
from bot.store.postgres.database import Database
from bot.store.postgres.jobs import Jobs

_COLUMNS = "id, guild_id, channel_id, requester_id, prompt, request_id, status_message_id"


class Intents:
    def __init__(self, db: Database, jobs: Jobs) -> None:
        self._db = db
        self._jobs = jobs

    async def begin(
        self, *, guild_id: int | None, channel_id: int, requester_id: int, prompt: str
    ) -> int:
        return int(
            await self._db.fetchval(
                "INSERT INTO enqueues (guild_id, channel_id, requester_id, prompt, started_at) "
                "VALUES ($1, $2, $3, $4, $5) RETURNING id",
                guild_id,
                channel_id,
                requester_id,
                prompt,
                self._db.clock(),
            )
        )

    async def end(self, intent_id: int, jobs: Iterable[NewJob] = ()) -> None:
        # A status message attached while the request was being sent is carried over. The
        # DELETE returns the row as committed last (it waits for a concurrent attach).
        async with self._db.transaction():
            await self._jobs.add(jobs)
            intent = await self._db.fetchrow(
                "DELETE FROM enqueues WHERE id = $1 RETURNING request_id, status_message_id",
                intent_id,
            )
            if intent is not None and intent["status_message_id"] is not None:
                await self._db.execute(
                    "UPDATE jobs SET status_message_id = $1 "
                    "WHERE request_id = $2 AND status_message_id IS NULL",
                    intent["status_message_id"],
                    intent["request_id"],
                )

    async def interrupted(self) -> list[InterruptedEnqueue]:
        return await self._select("ORDER BY id")

    async def for_request(self, request_id: str) -> InterruptedEnqueue | None:
        found = await self._select("WHERE request_id = $1", request_id)
        return found[0] if found else None

    async def forget(self, intent_id: int) -> None:
        await self._db.execute("DELETE FROM enqueues WHERE id = $1", intent_id)

    async def _select(self, where: str, *args: Any) -> list[InterruptedEnqueue]:
        rows = await self._db.fetch(f"SELECT {_COLUMNS} FROM enqueues {where}", *args)
        return [InterruptedEnqueue(*row) for row in rows]
