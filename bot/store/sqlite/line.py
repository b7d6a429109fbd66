"""The waiting table: the bot's own line for requests beyond MAX_GENERATIONS_IN_FLIGHT."""

from __future__ import annotations

from typing import Any

from bot.core.types import LineSnapshot, Order, Owner, Waiting
from bot.store.rows import WAITING_COLUMNS, WAITING_WIDTH, order_values, waiting_from_row
from bot.store.sqlite.database import Database

_HEADS = "WHERE id IN (SELECT MIN(id) FROM waiting GROUP BY guild_id, requester_id) ORDER BY id"


class Line:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, order: Order, owner_limit: int = 0) -> Waiting:
        now = self._db.clock()
        _, row_id = await self._db.execute(
            "INSERT INTO waiting (guild_id, channel_id, requester_id, prompt, model, params, "
            "count, upload_limit, parent_id, created_at, owner_limit) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (*order_values(order), now, owner_limit),
        )
        assert row_id is not None
        return Waiting(row_id, order, None, now, owner_limit)

    async def snapshot(self, *, heads_only: bool = False) -> LineSnapshot:
        # Per owner: images at Oxen (jobs_pending_owner) or being sent (enqueues_owner), last
        # sent (jobs_usage) and the server's last sent (jobs_guild_created): one index lookup
        # each, computed by SQLite.
        owners = (
            "SELECT o.guild_id, o.requester_id, "
            "(SELECT COUNT(*) FROM jobs AS j WHERE j.status = 'pending' "
            " AND j.guild_id IS o.guild_id AND j.requester_id = o.requester_id) + "
            "(SELECT IFNULL(SUM(e.count), 0) FROM enqueues AS e "
            " WHERE e.guild_id IS o.guild_id AND e.requester_id = o.requester_id), "
            "(SELECT MAX(created_at) FROM jobs AS j "
            " WHERE j.guild_id IS o.guild_id AND j.requester_id = o.requester_id), "
            "(SELECT MAX(created_at) FROM jobs AS j WHERE j.guild_id IS o.guild_id) "
            "FROM ({}) AS o"
        )
        if heads_only:
            # One statement (the pump runs this before every send): each owner's oldest.
            rows = await self._db.fetchall(
                owners.format(f"SELECT {WAITING_COLUMNS} FROM waiting {_HEADS}").replace(
                    "SELECT o.guild_id, o.requester_id, ", "SELECT o.*, ", 1
                )
            )
            waiting = [waiting_from_row(row[:WAITING_WIDTH]) for row in rows]
            figures = [(row[1], row[3], *row[WAITING_WIDTH:]) for row in rows]
        else:
            async with self._db.transaction(write=False):  # the line and counts agree
                waiting = await self._select("ORDER BY id", ())
                figures = await self._db.fetchall(
                    owners.format("SELECT DISTINCT guild_id, requester_id FROM waiting")
                )
        in_flight: dict[Owner, int] = {}
        owner_last: dict[Owner, float] = {}
        guild_last: dict[int | None, float] = {}
        for guild_id, requester_id, at_oxen, last, server_last in figures:
            owner = (guild_id, requester_id)
            if at_oxen:
                in_flight[owner] = at_oxen
            if last is not None:
                owner_last[owner] = last
            if server_last is not None:
                guild_last[guild_id] = server_last
        return LineSnapshot(waiting, in_flight, guild_last, owner_last)

    async def in_order(self, limit: int = -1) -> list[Waiting]:
        return await self._select("ORDER BY id LIMIT ?", (limit,))

    async def get(self, line_id: int) -> Waiting | None:
        found = await self._select("WHERE id = ?", (line_id,))
        return found[0] if found else None

    async def for_user(self, guild_id: int | None, requester_id: int) -> list[Waiting]:
        return await self._select(
            "WHERE guild_id IS ? AND requester_id = ? ORDER BY id", (guild_id, requester_id)
        )

    async def position(self, line_id: int) -> int:
        return int(await self._db.scalar("SELECT COUNT(*) FROM waiting WHERE id <= ?", (line_id,)))

    async def count(self) -> int:
        return int(await self._db.scalar("SELECT COUNT(*) FROM waiting"))

    async def take(
        self, waiting: Waiting, owner: str | None = None, lease_seconds: float = 0.0
    ) -> int | None:
        # One transaction: a crash then tells the requester, and never sends it twice.
        # The row's own status message: it may have been attached after `waiting` was read.
        async with self._db.transaction():
            now = self._db.clock()
            added, intent_id = await self._db.execute(
                "INSERT INTO enqueues (guild_id, channel_id, requester_id, prompt, started_at, "
                "request_id, status_message_id, count, lease_owner, lease_expires_at) "
                "SELECT guild_id, channel_id, requester_id, prompt, ?, ?, status_message_id, "
                "count, ?, ? FROM waiting WHERE id = ?",
                (now, waiting.request_id, owner,
                 now + lease_seconds if owner is not None else None, waiting.id),
            )  # fmt: skip
            if not added:
                return None  # it left the line (cancelled)
            await self._db.execute("DELETE FROM waiting WHERE id = ?", (waiting.id,))
        assert intent_id is not None
        return intent_id

    async def put_back(self, waiting: Waiting, intent_id: int) -> None:
        async with self._db.transaction():
            await self._db.execute(
                "INSERT OR IGNORE INTO waiting (id, guild_id, channel_id, requester_id, prompt, "
                "model, params, count, upload_limit, parent_id, status_message_id, created_at, "
                "owner_limit) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (waiting.id, *order_values(waiting.order), waiting.status_message_id,
                 waiting.created_at, waiting.owner_limit),
            )  # fmt: skip
            await self._db.execute("DELETE FROM enqueues WHERE id = ?", (intent_id,))

    async def remove(self, line_id: int) -> bool:
        removed, _ = await self._db.execute("DELETE FROM waiting WHERE id = ?", (line_id,))
        return removed > 0

    async def _select(self, where: str, args: tuple[Any, ...]) -> list[Waiting]:
        rows = await self._db.fetchall(f"SELECT {WAITING_COLUMNS} FROM waiting {where}", args)
        return [waiting_from_row(row) for row in rows]
