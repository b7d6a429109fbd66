"""The Postgres store: asyncpg and a connection pool, one module per table group, for bots that
share one database (DATABASE_URL=postgresql://...). The same repositories and semantics as the
embedded SQLite store (bot.store.sqlite); the same test suite runs against both."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from bot.store.postgres.database import POOL_MAX_SIZE, POOL_MIN_SIZE, Database
from bot.store.postgres.gallery import Gallery
from bot.store.postgres.intents import Intents
from bot.store.postgres.jobs import Jobs
from bot.store.postgres.line import Line
from bot.store.postgres.meta import Meta
from bot.store.postgres.migrations import SCHEMA_VERSION, migrate, schema_version
from bot.store.postgres.servers import Servers

__all__ = ["SCHEMA_VERSION", "PostgresStore"]


class PostgresStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self.jobs = Jobs(db)
        self.intents = Intents(db, self.jobs)
        self.line = Line(db)
        self.servers = Servers(db)
        self.meta = Meta(db)
        self.gallery = Gallery(db)

    @classmethod
    async def open(
        cls,
        url: str,
        clock: Callable[[], float] = time.time,
        *,
        min_connections: int = POOL_MIN_SIZE,
        max_connections: int = POOL_MAX_SIZE,
    ) -> PostgresStore:
        """Connect a pool to ``url`` (postgresql:// or postgres://) and migrate the schema."""
        db = await Database.connect(url, clock, min_size=min_connections, max_size=max_connections)
        try:
            await migrate(db)
        except BaseException:
            await db.close()
            raise
        return cls(db)

    def transaction(self) -> AbstractAsyncContextManager[None]:
        return self._db.transaction()

    async def schema_version(self) -> int:
        return await schema_version(self._db)

    async def ping(self) -> None:
        await self._db.fetchval("SELECT 1")

    async def close(self) -> None:
        await self._db.close()
