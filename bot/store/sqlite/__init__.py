"""The embedded store: SQLite through aiosqlite, one module per table group."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from bot.core.ports import StoreUnavailable
from bot.store.errors import StoreMisconfigured
from bot.store.sqlite.database import Database
from bot.store.sqlite.gallery import Gallery
from bot.store.sqlite.gateway import Gateway
from bot.store.sqlite.intents import Intents
from bot.store.sqlite.jobs import Jobs
from bot.store.sqlite.line import Line
from bot.store.sqlite.meta import Meta
from bot.store.sqlite.migrations import SCHEMA_VERSION, migrate, schema_version
from bot.store.sqlite.servers import Servers
from bot.store.sqlite.web_gallery import WebGalleryTables

__all__ = ["SCHEMA_VERSION", "SqliteStore"]


class SqliteStore:
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
    async def open(cls, path: Path | str, clock: Callable[[], float] = time.time) -> SqliteStore:
        try:
            if str(path) != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            db = await Database.connect(str(path), clock)
        except (OSError, sqlite3.DatabaseError, StoreUnavailable) as err:
            raise _cannot_open(path, err) from None
        try:
            await migrate(db)
        except BaseException as err:
            await db.close()
            if isinstance(err, sqlite3.DatabaseError | StoreUnavailable):  # not a database, corrupt
                raise _cannot_open(path, err) from None
            raise
        return cls(db)

    def transaction(self) -> AbstractAsyncContextManager[None]:
        return self._db.transaction()

    def locked(self, *keys: str) -> AbstractAsyncContextManager[None]:
        # BEGIN IMMEDIATE takes SQLite's one write lock, for every process on the file: every
        # writer is serialized already, whatever the keys.
        return self._db.transaction()

    async def schema_version(self) -> int:
        return await schema_version(self._db)

    async def ping(self) -> None:
        await self._db.scalar("SELECT 1")

    async def close(self) -> None:
        await self._db.close()


def _cannot_open(path: Path | str, err: Exception) -> StoreMisconfigured:
    if isinstance(err, StoreUnavailable):
        reason = err.detail.removeprefix("SQLite: ")
    else:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
    return StoreMisconfigured(
        f"cannot open the SQLite database {path}: {reason} (check DATABASE_URL, and that the bot "
        "may create and write its folder)"
    )
