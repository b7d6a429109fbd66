"""Enqueue intents: a prompt is recorded before it is sent to Oxen, and replaced by its jobs
once Oxen answers. A row left behind by a crash means the outcome is unknown."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bot.core.types import InterruptedEnqueue, NewJob
from bot.store.sqlite.database import Database
from bot.store.sqlite.jobs import Jobs

_COLUMNS = "id, guild_id, channel_id, requester_id, prompt, request_id, status_message_id"
# Nobody is sending it: it was never leased, or its sender died (its lease ran out).
_INTERRUPTED = "(lease_owner IS NULL OR lease_expires_at IS NULL OR lease_expires_at <= ?)"


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
        _, row_id = await self._db.execute(
            "INSERT INTO enqueues (guild_id, channel_id, requester_id, prompt, started_at, "
            "count, lease_owner, lease_expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (guild_id, channel_id, requester_id, prompt, now, count, owner,
             now + lease_seconds if owner is not None else None),
        )  # fmt: skip
        assert row_id is not None
        return row_id

    async def end(self, intent_id: int, jobs: Iterable[NewJob] = ()) -> None:
        # A status message attached while the request was being sent is carried over.
        async with self._db.transaction():
            await self._jobs.add(jobs)
            intent = await self._db.fetchone(
                "SELECT request_id, status_message_id FROM enqueues WHERE id = ?", (intent_id,)
            )
            if intent is not None and intent[1] is not None:
                await self._db.execute(
                    "UPDATE jobs SET status_message_id = ? "
                    "WHERE request_id = ? AND status_message_id IS NULL",
                    (intent[1], intent[0]),
                )
            await self._db.execute("DELETE FROM enqueues WHERE id = ?", (intent_id,))

    async def interrupted(self) -> list[InterruptedEnqueue]:
        return await self._select(f"WHERE {_INTERRUPTED} ORDER BY id", (self._db.clock(),))

    async def claim_interrupted(self, owner: str, lease_seconds: float) -> list[InterruptedEnqueue]:
        async with self._db.transaction():  # BEGIN IMMEDIATE: one claimer at a time
            now = self._db.clock()
            found = await self._select(f"WHERE {_INTERRUPTED} ORDER BY id", (now,))
            await self._db.execute(
                f"UPDATE enqueues SET lease_owner = ?, lease_expires_at = ? WHERE {_INTERRUPTED}",
                (owner, now + lease_seconds, now),
            )
        return found

    async def renew(self, owner: str, lease_seconds: float) -> None:
        await self._db.execute(
            "UPDATE enqueues SET lease_expires_at = ? WHERE lease_owner = ?",
            (self._db.clock() + lease_seconds, owner),
        )

    async def release_all(self, owner_prefix: str) -> int:
        changed, _ = await self._db.execute(
            "UPDATE enqueues SET lease_owner = NULL, lease_expires_at = NULL "
            "WHERE lease_owner IS NOT NULL AND substr(lease_owner, 1, ?) = ?",
            (len(owner_prefix), owner_prefix),
        )
        return changed

    async def for_request(self, request_id: str) -> InterruptedEnqueue | None:
        found = await self._select("WHERE request_id = ?", (request_id,))
        return found[0] if found else None

    async def forget(self, intent_id: int) -> None:
        await self._db.execute("DELETE FROM enqueues WHERE id = ?", (intent_id,))

    async def _select(self, where: str, args: tuple[Any, ...]) -> list[InterruptedEnqueue]:
        rows = await self._db.fetchall(f"SELECT {_COLUMNS} FROM enqueues {where}", args)
        return [InterruptedEnqueue(*row) for row in rows]
