"""The Postgres store: asyncpg and a connection pool, one module per table group, for bots that
share one database (DATABASE_URL=postgresql://...). The same repositories and semantics as the
embedded SQLite store (bot.store.sqlite); the same test suite runs against both."""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

from bot.store.postgres.connecting import connect_when_up
from bot.store.postgres.database import POOL_MAX_SIZE, POOL_MIN_SIZE, Database
from bot.store.postgres.gallery import Gallery
from bot.store.postgres.gateway import Gateway
from bot.store.postgres.intents import Intents
from bot.store.postgres.jobs import Jobs
from bot.store.postgres.line import Line
from bot.store.postgres.meta import Meta
from bot.store.postgres.migrations import SCHEMA_VERSION, migrate, schema_version
from bot.store.postgres.servers import Servers
from bot.store.postgres.web_gallery import WebGalleryTables

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
        self.gateway = Gateway(db)
        self.web_gallery = WebGalleryTables(db)

    @classmethod
    async def open(
        cls,
        url: str,
        clock: Callable[[], float] = time.time,
        *,
        min_connections: int = POOL_MIN_SIZE,
        max_connections: int = POOL_MAX_SIZE,
        wait_seconds: float = 0.0,
    ) -> PostgresStore:
        """Connect a pool to ``url`` (postgresql:// or postgres://), waiting up to
        ``wait_seconds`` for a database that is not up yet, and migrate the schema."""
        db = await connect_when_up(
            url,
            lambda: Database.connect(
                url, clock, min_size=min_connections, max_size=max_connections
            ),
            wait_seconds=wait_seconds,
        )
        try:
            await migrate(db)
        except BaseException:
            await db.close()
            raise
        return cls(db)

    def transaction(self) -> AbstractAsyncContextManager[None]:
        return self._db.transaction()

    @contextlib.asynccontextmanager
    async def locked(self, *keys: str) -> AsyncIterator[None]:
        # Transaction-level advisory locks, released by COMMIT or ROLLBACK (or by the session
        # ending, if the process dies), taken in one order so two transactions never deadlock.
        async with self._db.transaction():
            for key in sorted({advisory_key(key) for key in keys}):
                await self._db.execute("SELECT pg_advisory_xact_lock($1)", key)
            yield

    async def schema_version(self) -> int:
        return await schema_version(self._db)

    async def ping(self) -> None:
        await self._db.fetchval("SELECT 1")

    async def close(self) -> None:
        await self._db.close()


def advisory_key(name: str) -> int:
    """A lock name as pg_advisory_xact_lock's bigint: the same in every process (not hash())."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
