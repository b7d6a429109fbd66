"""The waiting table: the bot's own line for requests beyond MAX_GENERATIONS_IN_FLIGHT."""

from __future__ import annotations

import json
from typing import Any

from bot.core.types import Order, Waiting
from bot.store.sqlite.database import Database

_COLUMNS = (
    "id, guild_id, channel_id, requester_id, prompt, model, params, count, upload_limit, "
    "status_message_id, created_at"
)


class Line:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, order: Order) -> Waiting:
        now = self._db.clock()
        _, row_id = await self._db.execute(
            "INSERT INTO waiting (guild_id, channel_id, requester_id, prompt, model, params, "
            "count, upload_limit, created_at) VALUES (?,?,?,?,?,?,?,?,?)",
            (*_order_row(order), now),
        )
        assert row_id is not None
        return Waiting(row_id, order, None, now)

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

    async def take(self, waiting: Waiting) -> int | None:
        # One transaction: a crash then tells the requester, and never sends it twice.
        async with self._db.transaction():
            removed, _ = await self._db.execute("DELETE FROM waiting WHERE id = ?", (waiting.id,))
            if not removed:
                return None  # it left the line (cancelled)
            order = waiting.order
            _, intent_id = await self._db.execute(
                "INSERT INTO enqueues (guild_id, channel_id, requester_id, prompt, started_at, "
                "request_id, status_message_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (order.guild_id, order.channel_id, order.requester_id, order.prompt,
                 self._db.clock(), waiting.request_id, waiting.status_message_id),
            )  # fmt: skip
        assert intent_id is not None
        return intent_id

    async def put_back(self, waiting: Waiting, intent_id: int) -> None:
        async with self._db.transaction():
            await self._db.execute(
                "INSERT OR IGNORE INTO waiting (id, guild_id, channel_id, requester_id, prompt, "
                "model, params, count, upload_limit, status_message_id, created_at) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (waiting.id, *_order_row(waiting.order), waiting.status_message_id,
                 waiting.created_at),
            )  # fmt: skip
            await self._db.execute("DELETE FROM enqueues WHERE id = ?", (intent_id,))

    async def remove(self, line_id: int) -> bool:
        removed, _ = await self._db.execute("DELETE FROM waiting WHERE id = ?", (line_id,))
        return removed > 0

    async def _select(self, where: str, args: tuple[Any, ...]) -> list[Waiting]:
        rows = await self._db.fetchall(f"SELECT {_COLUMNS} FROM waiting {where}", args)
        return [
            Waiting(
                row[0],
                Order(row[1], row[2], row[3], row[4], row[5], json.loads(row[6]), row[7], row[8]),
                status_message_id=row[9],
                created_at=row[10],
            )
            for row in rows
        ]


def _order_row(order: Order) -> tuple[Any, ...]:
    return (
        order.guild_id, order.channel_id, order.requester_id, order.prompt, order.model,
        json.dumps(order.params, sort_keys=True), order.count, order.upload_limit,
    )  # fmt: skip
