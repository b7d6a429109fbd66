"""The jobs table: every generation Oxen accepted, until its outcome reaches Discord."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bot.core.types import Job, JobStatus, NewJob, Usage, waiting_id
from bot.store.rows import JOB_COLUMNS, NEW_JOB_COLUMNS, job_from_row, new_job_values
from bot.store.sqlite.database import Database

_OPEN = "status IN ('pending', 'delivering')"
# Images counted as in flight: at Oxen (pending jobs), and being sent to it (enqueue intents).
_SENDING = "SELECT IFNULL(SUM(count), 0) FROM enqueues"
_NO_LEASE = "lease_owner = NULL, lease_expires_at = NULL"


class Jobs:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, jobs: Iterable[NewJob]) -> None:
        now = self._db.clock()
        await self._db.executemany(
            f"INSERT INTO jobs ({NEW_JOB_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [new_job_values(j, now) for j in jobs],
        )

    async def get(self, generation_id: str) -> Job | None:
        found = await self._select("WHERE generation_id = ?", (generation_id,))
        return found[0] if found else None

    async def open(self) -> list[Job]:
        return await self._select(f"WHERE {_OPEN} ORDER BY created_at, batch_index", ())

    async def of_request(self, request_id: str) -> list[Job]:
        return await self._select("WHERE request_id = ? ORDER BY batch_index", (request_id,))

    async def queued_in_guild(self, guild_id: int | None) -> list[Job]:
        return await self._select(
            "WHERE guild_id IS ? AND status = 'pending' AND started_at IS NULL "
            "ORDER BY created_at, batch_index",
            (guild_id,),
        )

    async def queue_position(self, request_id: str) -> int | None:
        # A COUNT, so a /imagine stays cheap with thousands pending.
        async with self._db.transaction(write=False):
            row = await self._db.fetchone(
                "SELECT guild_id, created_at, started_at FROM jobs WHERE request_id = ? "
                "ORDER BY batch_index LIMIT 1",
                (request_id,),
            )
            if row is None or row[2] is not None:
                return None
            ahead = await self._db.scalar(
                "SELECT COUNT(*) FROM jobs WHERE guild_id IS ? AND status = 'pending' "
                "AND started_at IS NULL AND created_at < ? AND request_id != ?",
                (row[0], row[1], request_id),
            )
        return 1 + int(ahead or 0)

    async def pending_for_user(self, guild_id: int | None, requester_id: int) -> list[Job]:
        return await self._select(
            "WHERE guild_id IS ? AND requester_id = ? AND status = 'pending' "
            "ORDER BY created_at, batch_index",
            (guild_id, requester_id),
        )

    async def set_started(self, started_at: Mapping[str, float]) -> None:
        now = self._db.clock()
        await self._db.executemany(
            "UPDATE jobs SET started_at = ?, updated_at = ? WHERE generation_id = ?",
            [(since, now, gid) for gid, since in started_at.items()],
        )

    async def open_in_request(self, request_id: str) -> int:
        return int(
            await self._db.scalar(
                f"SELECT COUNT(*) FROM jobs WHERE request_id = ? AND {_OPEN}", (request_id,)
            )
        )

    async def in_flight(self) -> int:
        return int(
            await self._db.scalar(
                f"SELECT (SELECT COUNT(*) FROM jobs WHERE status = 'pending') + ({_SENDING})"
            )
        )

    async def attach_status_message(self, request_id: str, message_id: int) -> None:
        async with self._db.transaction():
            await self._db.execute(
                "UPDATE jobs SET status_message_id = ?, updated_at = ? WHERE request_id = ?",
                (message_id, self._db.clock(), request_id),
            )
            if (line_id := waiting_id(request_id)) is not None:
                # Wherever the request is now: in line, or being sent (the intent's end copies
                # it over to the jobs).
                await self._db.execute(
                    "UPDATE waiting SET status_message_id = ? WHERE id = ?", (message_id, line_id)
                )
                await self._db.execute(
                    "UPDATE enqueues SET status_message_id = ? WHERE request_id = ?",
                    (message_id, request_id),
                )

    async def record_outcome(
        self, generation_id: str, outcome: str, *, result_url: str | None, error: str | None
    ) -> None:
        await self._update(
            generation_id,
            "status = ?, outcome = ?, result_url = ?, error = ?",
            (JobStatus.DELIVERING.value, outcome, result_url, error),
        )

    async def mark_delivered(self, generation_id: str, message_id: int | None) -> None:
        await self._update(
            generation_id,
            "status = ?, result_message_id = ?, finished_at = ?, " + _NO_LEASE,
            (JobStatus.DELIVERED.value, message_id, self._db.clock()),
        )

    async def mark_undeliverable(self, generation_id: str, reason: str) -> None:
        await self._update(
            generation_id,
            "status = ?, error = ?, finished_at = ?, " + _NO_LEASE,
            (JobStatus.UNDELIVERABLE.value, reason, self._db.clock()),
        )

    # Leases never touch updated_at: a resumed delivery looks for its earlier post from then.

    async def claim(self, generation_id: str, owner: str, lease_seconds: float) -> Job | None:
        async with self._db.transaction():  # BEGIN IMMEDIATE: one claimer at a time
            now = self._db.clock()
            changed, _ = await self._db.execute(
                "UPDATE jobs SET lease_owner = ?, lease_expires_at = ? "
                f"WHERE generation_id = ? AND {_OPEN} AND (lease_owner IS NULL "
                "OR lease_owner = ? OR lease_expires_at IS NULL OR lease_expires_at <= ?)",
                (owner, now + lease_seconds, generation_id, owner, now),
            )
            if not changed:
                return None
            found = await self._select("WHERE generation_id = ?", (generation_id,))
        return found[0] if found else None

    async def renew(self, owner: str, lease_seconds: float) -> set[str]:
        async with self._db.transaction():
            await self._db.execute(
                "UPDATE jobs SET lease_expires_at = ? WHERE lease_owner = ?",
                (self._db.clock() + lease_seconds, owner),
            )
            rows = await self._db.fetchall(
                "SELECT generation_id FROM jobs WHERE lease_owner = ?", (owner,)
            )
        return {row[0] for row in rows}

    async def release(self, generation_id: str, owner: str) -> None:
        await self._db.execute(
            f"UPDATE jobs SET {_NO_LEASE} WHERE generation_id = ? AND lease_owner = ?",
            (generation_id, owner),
        )

    async def release_all(self, owner_prefix: str) -> int:
        changed, _ = await self._db.execute(
            f"UPDATE jobs SET {_NO_LEASE} WHERE lease_owner IS NOT NULL "
            "AND substr(lease_owner, 1, ?) = ?",
            (len(owner_prefix), owner_prefix),
        )
        return changed

    async def record_attempt(self, generation_id: str) -> int:
        async with self._db.transaction():
            await self._update(generation_id, "attempts = attempts + 1", ())
            attempts = await self._db.scalar(
                "SELECT attempts FROM jobs WHERE generation_id = ?", (generation_id,)
            )
        return int(attempts or 0)

    async def usage(self, guild_id: int | None, requester_id: int, since: float) -> Usage:
        # Counted from the jobs, the waiting line and the prompts being sent themselves:
        # nothing to drift. n is images per row (a job is one generation; a waiting request or
        # a prompt being sent is `count` of them); a prompt being sent is in flight already.
        async with self._db.transaction(write=False):
            mine = await self._db.fetchone(
                "SELECT SUM(n * at_oxen), SUM(n * waits), SUM(n * (created_at >= ?)), "
                "MAX(created_at) FROM ("
                "  SELECT 1 AS n, status = 'pending' AS at_oxen, 0 AS waits, created_at FROM jobs"
                "  WHERE guild_id IS ? AND requester_id = ?"
                "  UNION ALL SELECT count, 0, 1, created_at FROM waiting"
                "  WHERE guild_id IS ? AND requester_id = ?"
                "  UNION ALL SELECT count, 1, 0, started_at FROM enqueues"
                "  WHERE guild_id IS ? AND requester_id = ?)",
                (since, guild_id, requester_id, guild_id, requester_id, guild_id, requester_id),
            )
            server = await self._db.scalar(
                "SELECT (SELECT COUNT(*) FROM jobs WHERE guild_id IS ? AND created_at >= ?) + "
                "(SELECT IFNULL(SUM(count), 0) FROM waiting WHERE guild_id IS ? "
                "AND created_at >= ?) + "
                "(SELECT IFNULL(SUM(count), 0) FROM enqueues WHERE guild_id IS ? "
                "AND started_at >= ?)",
                (guild_id, since, guild_id, since, guild_id, since),
            )
        in_flight, waiting, today, last = mine if mine else (0, 0, 0, None)
        return Usage(
            in_flight=int(in_flight or 0),
            waiting=int(waiting or 0),
            images_today=int(today or 0),
            last_request_at=last,
            server_images_today=int(server or 0),
        )

    async def prune(self, finished_before: float, limit: int) -> int:
        changed, _ = await self._db.execute(
            "DELETE FROM jobs WHERE generation_id IN (SELECT generation_id FROM jobs "
            "WHERE finished_at IS NOT NULL AND finished_at < ? "
            "AND status IN ('delivered', 'undeliverable') ORDER BY finished_at LIMIT ?)",
            (finished_before, limit),
        )
        return changed

    async def _update(self, generation_id: str, assignments: str, values: tuple[Any, ...]) -> None:
        await self._db.execute(
            f"UPDATE jobs SET {assignments}, updated_at = ? WHERE generation_id = ?",
            (*values, self._db.clock(), generation_id),
        )

    async def _select(self, where: str, args: tuple[Any, ...]) -> list[Job]:
        rows = await self._db.fetchall(f"SELECT {JOB_COLUMNS} FROM jobs {where}", args)
        return [job_from_row(row) for row in rows]
