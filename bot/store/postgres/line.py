"""The waiting table: the bot's own line for requests beyond MAX_GENERATIONS_IN_FLIGHT."""

from __future__ import annotations

from typing import Any

from bot.core.types import LineSnapshot, Order, Owner, Waiting
from bot.store.postgres.database import Database, same_guild
from bot.store.rows import WAITING_COLUMNS, order_values, waiting_from_row

_HEADS = "WHERE id IN (SELECT min(id) FROM waiting GROUP BY guild_id, requester_id) ORDER BY id"


class Line:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, order: Order, owner_limit: int = 0) -> Waiting:
        now = self._db.clock()
        row_id = await self._db.fetchval(
            "INSERT INTO waiting (guild_id, channel_id, requester_id, prompt, model, params, "
            "count, upload_limit, parent_id, created_at, owner_limit) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
            *order_values(order),
            now,
            owner_limit,
        )
        return Waiting(int(row_id), order, None, now, owner_limit)

    async def snapshot(self, *, heads_only: bool = False) -> LineSnapshot:
        # Per owner: images at Oxen (jobs_pending_owner) or being sent (enqueues_owner), last
        # sent (jobs_usage) and the server's last sent (jobs_guild_created): one index lookup
        # each.
        figures = (
            "(SELECT count(*) FROM jobs AS j WHERE j.status = 'pending'"
            f" AND {same_guild('o.guild_id', 'j.guild_id')} AND j.requester_id = o.requester_id)"
            " + (SELECT coalesce(sum(e.count), 0) FROM enqueues AS e"
            f" WHERE {same_guild('o.guild_id', 'e.guild_id')} AND e.requester_id = o.requester_id)"
            " AS at_oxen, "
            "(SELECT max(j.created_at) FROM jobs AS j"
            f" WHERE {same_guild('o.guild_id', 'j.guild_id')} AND j.requester_id = o.requester_id)"
            " AS last_sent, "
            "(SELECT max(j.created_at) FROM jobs AS j"
            f" WHERE {same_guild('o.guild_id', 'j.guild_id')}) AS server_last_sent"
        )
        if heads_only:
            # One statement (the pump runs this before every send): each owner's oldest.
            rows = await self._db.fetch(
                f"SELECT o.*, {figures} FROM (SELECT {WAITING_COLUMNS} FROM waiting {_HEADS}) AS o "
                "ORDER BY o.id"
            )
            waiting = [waiting_from_row(row) for row in rows]
        else:
            async with self._db.snapshot():  # the line and the counts agree
                waiting = await self._select("ORDER BY id")
                rows = await self._db.fetch(
                    f"SELECT o.guild_id, o.requester_id, {figures} "
                    "FROM (SELECT DISTINCT guild_id, requester_id FROM waiting) AS o"
                )
        in_flight: dict[Owner, int] = {}
        owner_last: dict[Owner, float] = {}
        guild_last: dict[int | None, float] = {}
        for row in rows:
            owner = (row["guild_id"], row["requester_id"])
            if row["at_oxen"]:
                in_flight[owner] = row["at_oxen"]
            if row["last_sent"] is not None:
                owner_last[owner] = row["last_sent"]
            if row["server_last_sent"] is not None:
                guild_last[row["guild_id"]] = row["server_last_sent"]
        return LineSnapshot(waiting, in_flight, guild_last, owner_last)

    async def in_order(self, limit: int = -1) -> list[Waiting]:
        # A negative limit is no limit (SQLite's LIMIT -1; Postgres: LIMIT NULL).
        return await self._select("ORDER BY id LIMIT $1", limit if limit >= 0 else None)

    async def get(self, line_id: int) -> Waiting | None:
        found = await self._select("WHERE id = $1", line_id)
        return found[0] if found else None

    async def for_user(self, guild_id: int | None, requester_id: int) -> list[Waiting]:
        return await self._select(
            f"WHERE {same_guild('$1')} AND requester_id = $2 ORDER BY id", guild_id, requester_id
        )

    async def position(self, line_id: int) -> int:
        return int(await self._db.fetchval("SELECT count(*) FROM waiting WHERE id <= $1", line_id))

    async def count(self) -> int:
        return int(await self._db.fetchval("SELECT count(*) FROM waiting"))

    async def take(
        self, waiting: Waiting, owner: str | None = None, lease_seconds: float = 0.0
    ) -> int | None:
        # One transaction: a crash then tells the requester, and never sends it twice. Two
        # processes taking the same request at once: the DELETE of the second waits for the
        # first to commit, then finds nothing, so exactly one of them gets the intent.
        async with self._db.transaction():
            taken = await self._db.fetchrow(
                "DELETE FROM waiting WHERE id = $1 RETURNING status_message_id", waiting.id
            )
            if taken is None:
                return None  # it left the line (cancelled, or another process took it)
            order = waiting.order
            # The row's status message: it may have been attached since `waiting` was read.
            status_message_id = taken["status_message_id"] or waiting.status_message_id
            now = self._db.clock()
            intent_id = await self._db.fetchval(
                "INSERT INTO enqueues (guild_id, channel_id, requester_id, prompt, started_at, "
                "request_id, status_message_id, count, lease_owner, lease_expires_at) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
                order.guild_id, order.channel_id, order.requester_id, order.prompt,
                now, waiting.request_id, status_message_id, order.count, owner,
                now + lease_seconds if owner is not None else None,
            )  # fmt: skip
        return int(intent_id)

    async def put_back(self, waiting: Waiting, intent_id: int) -> None:
        async with self._db.transaction():
            await self._db.execute(
                "INSERT INTO waiting (id, guild_id, channel_id, requester_id, prompt, model, "
                "params, count, upload_limit, parent_id, status_message_id, created_at, "
                "owner_limit) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) "
                "ON CONFLICT (id) DO NOTHING",
                waiting.id, *order_values(waiting.order), waiting.status_message_id,
                waiting.created_at, waiting.owner_limit,
            )  # fmt: skip
            await self._db.execute("DELETE FROM enqueues WHERE id = $1", intent_id)

    async def remove(self, line_id: int) -> bool:
        return await self._db.execute("DELETE FROM waiting WHERE id = $1", line_id) > 0

    async def _select(self, where: str, *args: Any) -> list[Waiting]:
        rows = await self._db.fetch(f"SELECT {WAITING_COLUMNS} FROM waiting {where}", *args)
        return [waiting_from_row(row) for row in rows]
