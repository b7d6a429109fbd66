"""The jobs table: every generation Oxen accepted, until its outcome reaches Discord."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bot.core.types import Job, JobStatus, NewJob, Usage, waiting_id
from bot.store.postgres.database import Database, same_guild
from bot.store.rows import JOB_COLUMNS, NEW_JOB_COLUMNS, job_from_row, new_job_values

_OPEN = "status IN ('pending', 'delivering')"
_NO_LEASE = "lease_owner = NULL, lease_expires_at = NULL"
_NEW_JOB_PARAMS = ", ".join(f"${n}" for n in range(1, len(NEW_JOB_COLUMNS.split(",")) + 1))


class Jobs:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, jobs: Iterable[NewJob]) -> None:
        now = self._db.clock()
        await self._db.executemany(
            f"INSERT INTO jobs ({NEW_JOB_COLUMNS}) VALUES ({_NEW_JOB_PARAMS})",
            [new_job_values(j, now) for j in jobs],
        )

    async def get(self, generation_id: str) -> Job | None:
        found = await self._select("WHERE generation_id = $1", generation_id)
        return found[0] if found else None

    async def open(self) -> list[Job]:
        return await self._select(f"WHERE {_OPEN} ORDER BY created_at, batch_index")

    async def of_request(self, request_id: str) -> list[Job]:
        return await self._select("WHERE request_id = $1 ORDER BY batch_index", request_id)

    async def queued_in_guild(self, guild_id: int | None) -> list[Job]:
        return await self._select(
            f"WHERE {same_guild('$1')} AND status = 'pending' AND started_at IS NULL "
            "ORDER BY created_at, batch_index",
            guild_id,
        )

    async def queue_position(self, request_id: str) -> int | None:
        # One statement (one snapshot), and a COUNT: a /imagine stays cheap with thousands pending.
        row = await self._db.fetchrow(
            "SELECT r.started_at, (SELECT count(*) FROM jobs AS j "
            f"  WHERE {same_guild('r.guild_id', 'j.guild_id')} AND j.status = 'pending' "
            "   AND j.started_at IS NULL AND j.created_at < r.created_at "
            "   AND j.request_id <> $1) AS ahead "
            "FROM (SELECT guild_id, created_at, started_at FROM jobs WHERE request_id = $1 "
            "      ORDER BY batch_index LIMIT 1) AS r",
            request_id,
        )
        if row is None or row["started_at"] is not None:
            return None
        return 1 + int(row["ahead"])

    async def pending_for_user(self, guild_id: int | None, requester_id: int) -> list[Job]:
        return await self._select(
            f"WHERE {same_guild('$1')} AND requester_id = $2 AND status = 'pending' "
            "ORDER BY created_at, batch_index",
            guild_id,
            requester_id,
        )

    async def set_started(self, started_at: Mapping[str, float]) -> None:
        now = self._db.clock()
        await self._db.executemany(
            "UPDATE jobs SET started_at = $1, updated_at = $2 WHERE generation_id = $3",
            [(since, now, gid) for gid, since in started_at.items()],
        )

    async def open_in_request(self, request_id: str) -> int:
        return int(
            await self._db.fetchval(
                f"SELECT count(*) FROM jobs WHERE request_id = $1 AND {_OPEN}", request_id
            )
        )

    async def in_flight(self) -> int:
        # At Oxen (pending jobs), and being sent to it (enqueue intents, `count` images each).
        return int(
            await self._db.fetchval(
                "SELECT (SELECT count(*) FROM jobs WHERE status = 'pending') "
                "+ (SELECT coalesce(sum(count), 0) FROM enqueues)"
            )
        )

    async def attach_status_message(self, request_id: str, message_id: int) -> None:
        async with self._db.transaction():
            if (line_id := waiting_id(request_id)) is not None:
                # Wherever the request is now: in line, or being sent (the intent's end copies
                # it over to the jobs). The intent's row first: if another process is ending
                # the intent right now, this waits for it, and then finds its jobs below.
                await self._db.execute(
                    "UPDATE waiting SET status_message_id = $1 WHERE id = $2", message_id, line_id
                )
                await self._db.execute(
                    "UPDATE enqueues SET status_message_id = $1 WHERE request_id = $2",
                    message_id,
                    request_id,
                )
            await self._db.execute(
                "UPDATE jobs SET status_message_id = $1, updated_at = $2 WHERE request_id = $3",
                message_id,
                self._db.clock(),
                request_id,
            )

    async def record_outcome(
        self, generation_id: str, outcome: str, *, result_url: str | None, error: str | None
    ) -> None:
        await self._update(
            generation_id,
            "status = $3, outcome = $4, result_url = $5, error = $6",
            JobStatus.DELIVERING.value,
            outcome,
            result_url,
            error,
        )

    async def mark_delivered(self, generation_id: str, message_id: int | None) -> None:
        await self._update(
            generation_id,
            f"status = $3, result_message_id = $4, finished_at = $5, {_NO_LEASE}",
            JobStatus.DELIVERED.value,
            message_id,
            self._db.clock(),
        )

    async def mark_undeliverable(self, generation_id: str, reason: str) -> None:
        await self._update(
            generation_id,
            f"status = $3, error = $4, finished_at = $5, {_NO_LEASE}",
            JobStatus.UNDELIVERABLE.value,
            reason,
            self._db.clock(),
        )

    # Leases never touch updated_at: a resumed delivery looks for its earlier post from then.

    async def claim(self, generation_id: str, owner: str, lease_seconds: float) -> Job | None:
        # A compare-and-set in one statement: two processes claiming at once, the second's
        # UPDATE waits for the first's row lock, then finds the lease taken and changes nothing.
        now = self._db.clock()
        row = await self._db.fetchrow(
            "UPDATE jobs SET lease_owner = $2, lease_expires_at = $3 "
            f"WHERE generation_id = $1 AND {_OPEN} AND (lease_owner IS NULL "
            "OR lease_owner = $2 OR lease_expires_at IS NULL OR lease_expires_at <= $4) "
            f"RETURNING {JOB_COLUMNS}",
            generation_id,
            owner,
            now + lease_seconds,
            now,
        )
        return job_from_row(row) if row is not None else None

    async def renew(self, owner: str, lease_seconds: float) -> set[str]:
        rows = await self._db.fetch(
            "UPDATE jobs SET lease_expires_at = $1 WHERE lease_owner = $2 RETURNING generation_id",
            self._db.clock() + lease_seconds,
            owner,
        )
        return {row["generation_id"] for row in rows}

    async def release(self, generation_id: str, owner: str) -> None:
        await self._db.execute(
            f"UPDATE jobs SET {_NO_LEASE} WHERE generation_id = $1 AND lease_owner = $2",
            generation_id,
            owner,
        )

    async def release_all(self, owner_prefix: str) -> int:
        return await self._db.execute(
            f"UPDATE jobs SET {_NO_LEASE} WHERE lease_owner IS NOT NULL "
            "AND left(lease_owner, length($1)) = $1",
            owner_prefix,
        )

    async def record_attempt(self, generation_id: str) -> int:
        # One statement: two processes counting at once both count.
        attempts = await self._db.fetchval(
            "UPDATE jobs SET attempts = attempts + 1, updated_at = $1 WHERE generation_id = $2 "
            "RETURNING attempts",
            self._db.clock(),
            generation_id,
        )
        return int(attempts or 0)

    async def usage(self, guild_id: int | None, requester_id: int, since: float) -> Usage:
        # Counted from the jobs, the waiting line and the prompts being sent themselves, in
        # one statement (one snapshot): nothing to drift. n is images per row (a job is one
        # generation; a waiting request or a prompt being sent is `count` of them); a prompt
        # being sent is in flight already.
        row = await self._db.fetchrow(
            "WITH mine AS ("
            "  SELECT 1 AS n, status = 'pending' AS at_oxen, false AS waits, created_at FROM jobs"
            f"  WHERE {same_guild('$1')} AND requester_id = $2"
            "  UNION ALL SELECT count, false, true, created_at FROM waiting"
            f"  WHERE {same_guild('$1')} AND requester_id = $2"
            "  UNION ALL SELECT count, true, false, started_at FROM enqueues"
            f"  WHERE {same_guild('$1')} AND requester_id = $2) "
            "SELECT coalesce(sum(n) FILTER (WHERE at_oxen), 0) AS in_flight,"
            "  coalesce(sum(n) FILTER (WHERE waits), 0) AS waiting,"
            "  coalesce(sum(n) FILTER (WHERE created_at >= $3), 0) AS today,"
            "  max(created_at) AS last,"
            f"  (SELECT count(*) FROM jobs WHERE {same_guild('$1')} AND created_at >= $3)"
            "  + (SELECT coalesce(sum(count), 0) FROM waiting"
            f"     WHERE {same_guild('$1')} AND created_at >= $3)"
            "  + (SELECT coalesce(sum(count), 0) FROM enqueues"
            f"     WHERE {same_guild('$1')} AND started_at >= $3) AS server "
            "FROM mine",
            guild_id,
            requester_id,
            since,
        )
        assert row is not None  # an aggregate always returns a row
        return Usage(
            in_flight=int(row["in_flight"]),
            waiting=int(row["waiting"]),
            images_today=int(row["today"]),
            last_request_at=row["last"],
            server_images_today=int(row["server"]),
        )

    async def prune(self, finished_before: float, limit: int) -> int:
        # SKIP LOCKED: bots pruning at once take different rows instead of waiting on each other.
        return await self._db.execute(
            "DELETE FROM jobs WHERE generation_id IN (SELECT generation_id FROM jobs "
            "WHERE finished_at IS NOT NULL AND finished_at < $1 "
            "AND status IN ('delivered', 'undeliverable') ORDER BY finished_at LIMIT $2 "
            "FOR UPDATE SKIP LOCKED)",
            finished_before,
            limit,
        )

    async def _update(self, generation_id: str, assignments: str, *values: Any) -> None:
        """``assignments`` numbers its values from $3 ($1: updated_at, $2: the generation id)."""
        await self._db.execute(
            f"UPDATE jobs SET {assignments}, updated_at = $1 WHERE generation_id = $2",
            self._db.clock(),
            generation_id,
            *values,
        )

    async def _select(self, where: str, *args: Any) -> list[Job]:
        rows = await self._db.fetch(f"SELECT {JOB_COLUMNS} FROM jobs {where}", *args)
        return [job_from_row(row) for row in rows]
