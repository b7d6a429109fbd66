"""What only the embedded SQLite store does: WAL mode, PRAGMA user_version migrations from old
files, one connection whose every statement waits for an open transaction. Behaviour both stores
share is in test_store.py."""

import asyncio
import contextlib
import sqlite3

import pytest

from bot.core.ports import StoreUnavailable
from bot.core.types import Order
from bot.store.errors import StoreMisconfigured
from bot.store.sqlite import SCHEMA_VERSION, SqliteStore
from bot.store.sqlite.migrations import MIGRATIONS


@pytest.fixture
async def store(tmp_path):
    s = await SqliteStore.open(tmp_path / "db" / "jobs.sqlite3")
    yield s
    await s.close()


async def test_new_database_is_migrated_and_in_wal_mode(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    s = await SqliteStore.open(path)
    assert await s.schema_version() == SCHEMA_VERSION
    await s.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreMisconfigured, match="newer than this bot"):
        await SqliteStore.open(path)


async def test_version_1_database_is_migrated_forward(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(MIGRATIONS[0] + "PRAGMA user_version = 1;")
        db.execute(
            "INSERT INTO jobs (generation_id, channel_id, requester_id, prompt, model, status, "
            "created_at, updated_at) VALUES ('old', 1, 2, 'p', 'm', 'pending', 0, 0)"
        )
    s = await SqliteStore.open(path)
    try:
        assert await s.schema_version() == SCHEMA_VERSION
        assert (await s.jobs.get("old")).prompt == "p"
        assert await s.intents.interrupted() == []
    finally:
        await s.close()


def order(prompt="a fox", *, guild_id=1, requester_id=7, count=1):
    return Order(
        guild_id=guild_id, channel_id=10, requester_id=requester_id, prompt=prompt,
        model="flux-1-dev", params={"prompt": prompt, "seed": 3}, count=count,
    )  # fmt: skip


async def test_a_failure_half_way_through_a_move_saves_nothing(tmp_path):
    """Taking a request from the line is two statements (DELETE from the line, INSERT the
    intent). If the second fails, the first must not be saved by the next caller's commit."""
    path = tmp_path / "jobs.sqlite3"
    store = await SqliteStore.open(path)
    try:
        waiting = await store.line.add(order("must not be lost"))
        with contextlib.closing(sqlite3.connect(path)) as db, db:  # a crash at the INSERT
            db.execute(
                "CREATE TRIGGER crash BEFORE INSERT ON enqueues "
                "BEGIN SELECT RAISE(ABORT, 'crash'); END"
            )
        with pytest.raises(sqlite3.DatabaseError, match="crash"):
            await store.line.take(waiting)
        await store.meta.set("another", "write")  # someone else's write commits afterwards
    finally:
        await store.close()
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT prompt FROM waiting").fetchall() == [("must not be lost",)]
        assert db.execute("SELECT COUNT(*) FROM enqueues").fetchone() == (0,)
        assert db.execute("SELECT value FROM meta").fetchall() == [("write",)]


async def test_every_statement_waits_for_an_open_transaction(store):
    """One connection: even reads and writes of other rows wait their turn."""
    waiting = await store.line.add(order("kept"))
    inside, crash = asyncio.Event(), asyncio.Event()

    async def move_that_crashes() -> None:
        async with store.transaction():
            await store.line.remove(waiting.id)
            inside.set()
            await crash.wait()
            raise RuntimeError("crashed half-way")

    mover = asyncio.create_task(move_that_crashes())
    await inside.wait()
    writer = asyncio.create_task(store.meta.set("k", "v"))
    reader = asyncio.create_task(store.line.get(waiting.id))
    await asyncio.sleep(0.05)
    assert not writer.done() and not reader.done()  # they wait for the transaction to end
    crash.set()
    with pytest.raises(RuntimeError):
        await mover
    assert await reader is not None  # never saw the half-done move
    await writer
    assert await store.line.get(waiting.id) is not None  # rolled back
    assert await store.meta.get("k") == "v"


async def test_a_transaction_cancelled_as_it_begins_leaves_nothing_open(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    store = await SqliteStore.open(path)
    try:

        async def move() -> None:
            async with store.transaction():
                await store.meta.set("inside", "never")

        task = asyncio.create_task(move())
        await asyncio.sleep(0)  # it is sending BEGIN...
        task.cancel()  # ...when shutdown cancels it
        with pytest.raises(asyncio.CancelledError):
            await task
        await store.meta.set("after", "saved")
    finally:
        await store.close()
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT key, value FROM meta").fetchall() == [("after", "saved")]


async def test_processes_opening_a_new_database_at_once_migrate_it_once(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    stores = await asyncio.gather(*(SqliteStore.open(path) for _ in range(4)))
    try:
        assert [await s.schema_version() for s in stores] == [SCHEMA_VERSION] * 4
    finally:
        for s in stores:
            await s.close()


async def test_a_file_another_program_keeps_locked_is_store_unavailable(tmp_path):
    """Another program (a backup, an sqlite3 shell left in a transaction) holds the write lock
    past busy_timeout: the write fails as StoreUnavailable, which every layer explains, not as
    the driver's error; once the lock is let go, the store writes again."""
    path = tmp_path / "jobs.sqlite3"
    s = await SqliteStore.open(path)
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreUnavailable, match="database is locked"):
            await s.line.add(order("blocked"), owner_limit=4)
        other.execute("ROLLBACK")
        await s.line.add(order("after"), owner_limit=4)
        assert [w.order.prompt for w in (await s.line.snapshot()).waiting] == ["after"]
    finally:
        other.close()
        await s.close()
