"""An asyncpg connection pool and the one transaction primitive every multi-statement write uses.

A statement awaited outside a transaction borrows a pooled connection for that statement alone (it
commits on its own). ``async with db.transaction():`` borrows one connection for the task that
entered it and binds it to that task, so every statement the task awaits inside runs on that
connection between ``BEGIN`` and ``COMMIT`` (``ROLLBACK`` on any error), and a nested
``transaction()`` by the same task joins the open one: the SQLite store's semantics. Other tasks,
including tasks started inside the block, work on connections of their own; Postgres row locks,
not a process-wide lock, keep their writes out of ours, so several bot processes can share the
database. Transactions are READ COMMITTED: a read-modify-write locks its row (``FOR UPDATE``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from typing import Any, Literal, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from bot.core.ports import StoreUnavailable

Row = asyncpg.Record  # columns by name or by position, in SELECT order
# Strings: asyncpg's classes are generic only in its type stubs.
Connection: TypeAlias = "PoolConnectionProxy[asyncpg.Record]"
Pool: TypeAlias = "asyncpg.Pool[asyncpg.Record]"
_Isolation = Literal["read_committed", "repeatable_read"]

POOL_MIN_SIZE = 1
POOL_MAX_SIZE = 10
CONNECT_TIMEOUT = 10.0  # seconds to open one connection
CLOSE_TIMEOUT = 10.0  # at shutdown, how long borrowed connections may take to come back


class Database:
    def __init__(self, pool: Pool, clock: Callable[[], float]) -> None:
        self.pool = pool
        self.clock = clock
        # The connection each task's open transaction runs on. Keyed by task, not a contextvar:
        # a task started inside a transaction inherits context, but must not share a connection.
        self._bound: dict[asyncio.Task[Any] | None, Connection] = {}

    @classmethod
    async def connect(
        cls,
        url: str,
        clock: Callable[[], float],
        *,
        min_size: int = POOL_MIN_SIZE,
        max_size: int = POOL_MAX_SIZE,
    ) -> Database:
        pool = await asyncpg.create_pool(
            url,
            min_size=min_size,
            max_size=max_size,
            timeout=CONNECT_TIMEOUT,
            server_settings={"application_name": "imagine-bot"},
        )
        return cls(pool, clock)

    async def close(self) -> None:
        """Wait (a bounded time) for borrowed connections to come back, then close them all."""
        try:
            await asyncio.wait_for(self.pool.close(), CLOSE_TIMEOUT)
        except TimeoutError:
            self.pool.terminate()

    def transaction(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Everything awaited inside commits together, or (on any error) not at all."""
        return self._bind("read_committed", readonly=False)

    def snapshot(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Reads that must agree with each other (no writes): one REPEATABLE READ, read-only
        transaction, which never waits for writers, nor they for it. Inside a transaction:
        part of that one."""
        return self._bind("repeatable_read", readonly=True)

    @contextlib.asynccontextmanager
    async def _bind(self, isolation: _Isolation, *, readonly: bool) -> AsyncIterator[None]:
        task = asyncio.current_task()
        if task in self._bound:
            yield  # nested: part of the transaction this task already holds
            return
        raised_inside: BaseException | None = None
        try:
            async with (
                self.pool.acquire() as conn,
                conn.transaction(isolation=isolation, readonly=readonly),
            ):
                self._bound[task] = conn
                try:
                    yield
                except BaseException as err:
                    raised_inside = err
                    raise
                finally:
                    del self._bound[task]
        except _UNREACHABLE as err:
            if err is raised_inside:
                raise  # the caller's own error, not the database's
            raise unavailable(err) from err

    def _conn(self) -> Connection | Pool:
        """This task's transaction's connection, else the pool (a connection per statement)."""
        return self._bound.get(asyncio.current_task()) or self.pool

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        with reachable():
            return await self._conn().fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        with reachable():
            return await self._conn().fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        with reachable():
            return await self._conn().fetchval(sql, *args)

    async def execute(self, sql: str, *args: Any) -> int:
        """Run one statement; returns how many rows it changed."""
        with reachable():
            status = await self._conn().execute(sql, *args)
        # "INSERT 0 1", "UPDATE 3", "DELETE 0": the row count is the last word.
        last = status.rsplit(" ", 1)[-1]
        return int(last) if last.isdigit() else 0

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """All rows or none."""
        rows = list(rows)
        if not rows:
            return
        async with self.transaction():
            with reachable():
                await self._conn().executemany(sql, rows)


# The database cannot be reached: down, restarting, or the connection dropped.
_UNREACHABLE = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
)


def unavailable(err: BaseException) -> StoreUnavailable:
    return StoreUnavailable(f"{type(err).__name__}: {err}" if str(err) else type(err).__name__)


@contextlib.contextmanager
def reachable() -> Iterator[None]:
    """Around one statement: the driver's connection errors become StoreUnavailable."""
    try:
        yield
    except _UNREACHABLE as err:
        raise unavailable(err) from err


def same_guild(param: str, column: str = "guild_id") -> str:
    """``column IS NOT DISTINCT FROM param`` (None: a DM with the bot), in a form an index on
    ``column`` can serve (Postgres never uses one for IS NOT DISTINCT FROM)."""
    return f"({column} = {param} OR ({column} IS NULL AND {param}::bigint IS NULL))"
