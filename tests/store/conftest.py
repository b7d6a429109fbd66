"""One store test suite, two implementations: every test that takes ``store`` or ``backend`` runs
against the embedded SQLite store and against the Postgres store (a fresh database per test, from
tests/support/postgres.py)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest

from bot.store.postgres import PostgresStore
from bot.store.sqlite import SqliteStore

AnyStore = SqliteStore | PostgresStore


class Clock:
    """The stores' clock, set by hand. Starts at a real epoch with a fraction, so a test sees
    whether times come back as the very same floats."""

    def __init__(self, now: float = 1_700_000_000.123456) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Backend:
    name: str
    _open: Callable[[Callable[[], float]], Awaitable[AnyStore]]
    integrity_error: type[Exception]  # what a duplicate key raises
    clock: Clock  # the stores' clock unless open() is given another
    opened: list[AnyStore] = field(default_factory=list)

    async def open(self, clock: Callable[[], float] | None = None) -> Any:
        """Another store on the same database: the bot after a restart, or a second process."""
        store = await self._open(clock or self.clock)
        self.opened.append(store)
        return store


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, tmp_path) -> tuple[str, str]:
    """(implementation, where its database is): a SQLite file, or a fresh Postgres database."""
    if request.param == "sqlite":
        return "sqlite", str(tmp_path / "db" / "jobs.sqlite3")
    return "postgres", request.getfixturevalue("postgres_url")


@pytest.fixture
async def backend(database: tuple[str, str], clock: Clock) -> AsyncIterator[Backend]:
    name, where = database
    if name == "sqlite":
        opener = SqliteStore.open
        integrity_error: type[Exception] = sqlite3.IntegrityError
    else:
        opener = PostgresStore.open
        integrity_error = asyncpg.UniqueViolationError
    found = Backend(name, lambda c: opener(where, clock=c), integrity_error, clock)
    try:
        yield found
    finally:
        for opened in found.opened:  # closing twice is harmless; a failed test may not have
            await opened.close()


@pytest.fixture
async def store(backend: Backend) -> Any:
    return await backend.open()
