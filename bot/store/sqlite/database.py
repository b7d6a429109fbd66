"""One SQLite connection and the one transaction primitive every write goes through.

aiosqlite runs SQLite on its own thread; the connection is SQLite's single writer. It is opened in
autocommit mode and every statement takes a turn under one asyncio lock, so another coroutine's
statement can never land inside someone else's transaction, and a transaction is ``BEGIN
IMMEDIATE`` ... ``COMMIT``, rolled back on any error. Statements awaited inside a transaction by
the task that opened it join it (they do not wait for the lock they already hold).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from typing import Any

import aiosqlite

from bot.core.ports import StoreUnavailable

Row = Any  # a tuple of column values, in SELECT order


class Database:
    def __init__(self, connection: aiosqlite.Connection, clock: Callable[[], float]) -> None:
        self._conn = connection
        self.clock = clock
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None  # the task inside a transaction

    @classmethod
    async def connect(cls, path: str, clock: Callable[[], float]) -> Database:
        # isolation_level=None: no implicit transactions; ours are explicit.
        connection = await aiosqlite.connect(path, isolation_level=None)
        try:
            # The wait first: switching a new file to WAL while another process opens it too
            # would otherwise fail at once with "database is locked".
            await connection.execute("PRAGMA busy_timeout=5000")
            await _switch_to_wal(connection)
            await connection.execute("PRAGMA synchronous=NORMAL")
            await connection.execute("PRAGMA foreign_keys=ON")
        except BaseException:
            await connection.close()
            raise
        return cls(connection, clock)

    async def close(self) -> None:
        async with self._lock:
            await self._conn.close()

    @contextlib.asynccontextmanager
    async def transaction(self, *, write: bool = True) -> AsyncIterator[None]:
        """Everything awaited inside commits together, or (on any error) not at all.
        ``write=False``: a consistent read of several statements, without taking SQLite's
        write lock (another process may write meanwhile; this one sees a snapshot)."""
        if self._owner is not None and self._owner is asyncio.current_task():
            yield  # nested: part of the transaction this task already holds
            return
        async with self._lock:
            self._owner = asyncio.current_task()
            try:
                with reachable():
                    await self._conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                yield
            except BaseException:
                # Also when cancelled mid-BEGIN: statements run in order on aiosqlite's thread,
                # so this ROLLBACK comes after the BEGIN, before anyone else's statement.
                await asyncio.shield(self._rollback())
                raise
            else:
                with reachable():
                    await self._conn.execute("COMMIT")
            finally:
                self._owner = None

    async def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.OperationalError):  # no transaction was open
            await self._conn.execute("ROLLBACK")

    @contextlib.asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        """One statement's turn: inside this task's transaction, or alone under the lock."""
        if self._owner is not None and self._owner is asyncio.current_task():
            yield
            return
        async with self._lock:
            yield

    async def fetchall(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        with reachable():
            async with self._turn(), self._conn.execute(sql, args) as cursor:
                return list(await cursor.fetchall())

    async def fetchone(self, sql: str, args: Sequence[Any] = ()) -> Row | None:
        with reachable():
            async with self._turn(), self._conn.execute(sql, args) as cursor:
                return await cursor.fetchone()

    async def scalar(self, sql: str, args: Sequence[Any] = ()) -> Any:
        row = await self.fetchone(sql, args)
        return row[0] if row is not None else None

    async def execute(self, sql: str, args: Sequence[Any] = ()) -> tuple[int, int | None]:
        """Run one statement; returns (rows changed, last inserted row id)."""
        with reachable():
            async with self._turn(), self._conn.execute(sql, args) as cursor:
                return cursor.rowcount, cursor.lastrowid

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """All rows or none (each would otherwise commit on its own in autocommit mode)."""
        async with self.transaction():
            with reachable():
                await self._conn.executemany(sql, rows)

    async def executescript(self, script: str) -> None:
        """SQLite's own errors, unchanged (migrations tell another process's step by them)."""
        async with self._turn():
            await self._conn.executescript(script)


async def _switch_to_wal(connection: aiosqlite.Connection) -> None:
    """PRAGMA journal_mode=WAL, tried again for a while if another process is switching the
    same new file at the same moment: that lock is not one busy_timeout waits for."""
    deadline = time.monotonic() + _WAL_SWITCH_SECONDS
    while True:
        try:
            await connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as err:
            if "database is locked" not in str(err) or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.02)


_WAL_SWITCH_SECONDS = 5.0

# SQLite's words when the file cannot be used right now, rather than for a fault of the query.
_OUTAGES = (
    "database is locked",  # another program held the write lock past busy_timeout
    "database or disk is full",
    "disk I/O error",
    "unable to open database file",
)


@contextlib.contextmanager
def reachable() -> Iterator[None]:
    """Around statements: SQLite failing for want of its file becomes StoreUnavailable."""
    try:
        yield
    except sqlite3.OperationalError as err:
        if any(words in str(err) for words in _OUTAGES):
            raise StoreUnavailable(f"SQLite: {err}") from err
        raise
