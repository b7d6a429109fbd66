"""Enqueue intents: a prompt is recorded before it is sent to Oxen, and replaced by its jobs
once Oxen answers. A row left behind by a crash means the outcome is unknown."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bot.core.types import InterruptedEnqueue, NewJob
from bot.store.postgres.database import Database
from bot.store.postgres.jobs import Jobs

_COLUMNS = "id, guild_id, channel_id, requester_id, prompt, request_id, status_message_id"
# Nobody is sending it: it was never leased, or its sender died (its lease ran out).
_INTERRUPTED = "(lease_owner IS NULL OR lease_expires_at IS NULL OR lease_expires_at <= $1)"


class Intents:
    def __init__(self, db: Database, jobs: Jobs) -> None:
        self._db = db
        self._jobs = jobs

    async def begin(
        self,
        *,
        guild_id: int | None,
        channel_id: int,
        requester_id: int,
        prompt: str,
        count: int = 1,
        owner: str | None = None,
        lease_seconds: float = 0.0,
    ) -> int:
        now = self._db.clock()
        return int(
            await self._db.fetchval(
                "INSERT INTO enqueues (guild_id, channel_id, requester_id, prompt, started_at, "
                "count, lease_owner, lease_expires_at) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                guild_id,
                channel_id,
                requester_id,
                prompt,
                now,
                count,
                owner,
                now + lease_seconds if owner is not None else None,
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
        return await self._select(f"WHERE {_INTERRUPTED} ORDER BY id", self._db.clock())

    async def claim_interrupted(self, owner: str, lease_seconds: float) -> list[InterruptedEnqueue]:
        # SKIP LOCKED: a row another process is claiming (or ending) right now is not waited
        # for; it is theirs.
        now = self._db.clock()
        rows = await self._db.fetch(
            "UPDATE enqueues SET lease_owner = $2, lease_expires_at = $3 WHERE id IN ("
            f"  SELECT id FROM enqueues WHERE {_INTERRUPTED} FOR UPDATE SKIP LOCKED) "
            f"RETURNING {_COLUMNS}",
            now,
            owner,
            now + lease_seconds,
        )
        return sorted((InterruptedEnqueue(*row) for row in rows), key=lambda e: e.id)

    async def renew(self, owner: str, lease_seconds: float) -> None:
        await self._db.execute(
            "UPDATE enqueues SET lease_expires_at = $1 WHERE lease_owner = $2",
            self._db.clock() + lease_seconds,
            owner,
        )

    async def release_all(self, owner_prefix: str) -> int:
        return await self._db.execute(
            "UPDATE enqueues SET lease_owner = NULL, lease_expires_at = NULL "
            "WHERE lease_owner IS NOT NULL AND left(lease_owner, length($1)) = $1",
            owner_prefix,
        )

    async def for_request(self, request_id: str) -> InterruptedEnqueue | None:
        found = await self._select("WHERE request_id = $1", request_id)
        return found[0] if found else None

    async def forget(self, intent_id: int) -> None:
        await self._db.execute("DELETE FROM enqueues WHERE id = $1", intent_id)

    async def _select(self, where: str, *args: Any) -> list[InterruptedEnqueue]:
        rows = await self._db.fetch(f"SELECT {_COLUMNS} FROM enqueues {where}", *args)
        return [InterruptedEnqueue(*row) for row in rows]
