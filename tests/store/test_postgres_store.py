"""What only the Postgres store does, or does its own way: a pool of connections, migrations under
an advisory lock, row locks instead of one lock for everything. Behaviour both stores share is in
test_store.py. Several stores on one database stand for several bot processes."""

import asyncio
import contextlib
import sqlite3
from urllib.parse import urlsplit

import asyncpg
import pytest

from bot.core.ports import StoreUnavailable
from bot.core.types import Order
from bot.store import open_store
from bot.store.errors import StoreMisconfigured
from bot.store.postgres import SCHEMA_VERSION, PostgresStore
from bot.store.postgres import database as postgres_database
from bot.store.postgres.gallery import words
from bot.store.postgres.migrations import LOCK_KEY
from tests.support.forwarder import Forwarder
from tests.support.net import free_port


def order(prompt="a fox"):
    return Order(
        guild_id=1, channel_id=10, requester_id=7, prompt=prompt, model="flux-1-dev",
        params={"prompt": prompt}, count=1,
    )  # fmt: skip


@contextlib.asynccontextmanager
async def connect(url):
    conn = await asyncpg.connect(url)
    try:
        yield conn
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def opened(url, **options):
    store = await PostgresStore.open(url, **options)
    try:
        yield store
    finally:
        await store.close()


async def versions(url):
    async with connect(url) as conn:
        return [r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")]


async def test_a_new_database_is_migrated_and_each_step_recorded(postgres_url):
    async with opened(postgres_url) as store:
        assert await store.schema_version() == SCHEMA_VERSION
    assert await versions(postgres_url) == list(range(1, SCHEMA_VERSION + 1))
    async with opened(postgres_url) as store:  # again: nothing to do
        assert await store.schema_version() == SCHEMA_VERSION
    assert await versions(postgres_url) == list(range(1, SCHEMA_VERSION + 1))


async def test_processes_starting_together_migrate_once(postgres_url):
    stores = await asyncio.gather(*(PostgresStore.open(postgres_url) for _ in range(4)))
    try:
        assert await versions(postgres_url) == list(range(1, SCHEMA_VERSION + 1))
        await stores[0].meta.set("k", "v")
        assert [await s.meta.get("k") for s in stores] == ["v"] * 4
    finally:
        for store in stores:
            await store.close()


async def test_a_start_waits_for_a_migration_in_progress(postgres_url):
    async with connect(postgres_url) as other:
        await other.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)  # another bot migrating
        opening = asyncio.create_task(PostgresStore.open(postgres_url))
        await asyncio.sleep(0.3)
        assert not opening.done()
        await other.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
        store = await asyncio.wait_for(opening, 10)
    try:
        assert await store.schema_version() == SCHEMA_VERSION
    finally:
        await store.close()


async def test_newer_schema_is_refused_and_leaves_no_connection_open(postgres_url):
    async with opened(postgres_url):
        pass
    async with connect(postgres_url) as conn:
        await conn.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, 0)",
            SCHEMA_VERSION + 1,
        )
        with pytest.raises(StoreMisconfigured, match="newer than this bot"):
            await PostgresStore.open(postgres_url)
        others = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    assert others == 0


async def test_the_postgres_scheme_works_too(postgres_url):
    assert postgres_url.startswith("postgresql://")
    async with opened("postgres://" + postgres_url.removeprefix("postgresql://")) as store:
        await store.ping()


async def test_a_failure_half_way_through_take_saves_nothing(postgres_url):
    """Taking a request from the line is two statements (DELETE from the line, INSERT the
    intent). If the second fails, the first is rolled back, and the connection goes back to
    the pool clean: the next write on it commits only itself."""
    async with opened(postgres_url, max_connections=1) as store:
        waiting = await store.line.add(order("must not be lost"))
        async with connect(postgres_url) as db:  # a crash at the INSERT
            await db.execute(
                "CREATE FUNCTION crash() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'crash'; END $$; "
                "CREATE TRIGGER crash BEFORE INSERT ON enqueues "
                "FOR EACH ROW EXECUTE FUNCTION crash()"
            )
        with pytest.raises(asyncpg.RaiseError, match="crash"):
            await store.line.take(waiting)
        await store.meta.set("another", "write")  # someone else's write, on the same connection
    async with connect(postgres_url) as db:
        assert [r["prompt"] for r in await db.fetch("SELECT prompt FROM waiting")] == [
            "must not be lost"
        ]
        assert await db.fetchval("SELECT count(*) FROM enqueues") == 0
        assert await db.fetchval("SELECT value FROM meta") == "write"


async def test_reads_and_other_rows_do_not_wait_for_an_open_transaction(postgres_url):
    """Unlike SQLite's one connection: another connection reads the last committed state at
    once, and writes other rows at once; only the same row waits."""
    async with opened(postgres_url) as store:
        waiting = await store.line.add(order("kept"))
        inside, done = asyncio.Event(), asyncio.Event()

        async def hold() -> None:
            async with store.transaction():
                await store.line.remove(waiting.id)
                inside.set()
                await done.wait()

        holder = asyncio.create_task(hold())
        await inside.wait()
        async with asyncio.timeout(2):
            assert await store.line.get(waiting.id) is not None  # committed state: still there
            await store.meta.set("k", "v")
        remover = asyncio.create_task(store.line.remove(waiting.id))
        await asyncio.sleep(0.1)
        assert not remover.done()  # the same row waits
        done.set()
        await holder
        assert not await remover  # the transaction committed: already gone
        assert await store.line.get(waiting.id) is None


async def test_a_task_started_inside_a_transaction_works_on_its_own_connection(postgres_url):
    """The transaction belongs to the task that opened it, not to tasks it starts: their
    statements commit on their own, and are not undone by its rollback."""
    async with opened(postgres_url) as store:
        with pytest.raises(RuntimeError):
            async with store.transaction():
                await store.meta.set("parent", "rolled back")
                await asyncio.create_task(store.meta.set("child", "kept"))
                raise RuntimeError("crash")
        assert await store.meta.get("parent") is None
        assert await store.meta.get("child") == "kept"


@pytest.mark.parametrize("ticks", [0, 1, 2, 3, 5, 8])
async def test_a_cancelled_transaction_gives_its_connection_back_clean(postgres_url, ticks):
    async with opened(postgres_url, max_connections=1) as store:

        async def move() -> None:
            async with store.transaction():
                await store.meta.set("inside", "never")
                await store.meta.set("inside too", "never")
                await asyncio.sleep(10)

        task = asyncio.create_task(move())
        for _ in range(ticks):
            await asyncio.sleep(0)
        task.cancel()  # shutdown cancels it, wherever it is
        with pytest.raises(asyncio.CancelledError):
            await task
        async with asyncio.timeout(5):  # the one connection came back, with nothing open
            await store.meta.set("after", "saved")
            async with connect(postgres_url) as db:
                rows = await db.fetch("SELECT key FROM meta")
                open_transactions = await db.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND state LIKE 'idle in transaction%'"
                )
    assert [r["key"] for r in rows] == ["after"] and open_transactions == 0


async def test_close_does_not_wait_forever_for_a_connection_never_given_back(
    postgres_url, monkeypatch
):
    monkeypatch.setattr(postgres_database, "CLOSE_TIMEOUT", 0.2)
    store = await PostgresStore.open(postgres_url)
    stuck = asyncio.Event()

    async def stuck_in_a_transaction() -> None:
        async with store.transaction():
            await store.meta.set("k", "v")
            stuck.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(stuck_in_a_transaction())
    await stuck.wait()
    try:
        async with asyncio.timeout(5):
            await store.close()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, asyncpg.InterfaceError):
            await task
    async with connect(postgres_url) as db:
        assert await db.fetchval("SELECT value FROM meta") is None  # never committed


def fts5_words(text):
    """How SQLite's FTS5 (the SQLite store's search index) cuts and folds ``text``."""
    with contextlib.closing(sqlite3.connect(":memory:")) as db:
        db.execute(
            "CREATE VIRTUAL TABLE t USING fts5(x, tokenize = 'unicode61 remove_diacritics 2')"
        )
        db.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
        db.execute("INSERT INTO t (rowid, x) VALUES (1, ?)", (text,))
        return [row[0] for row in db.execute("SELECT term FROM v ORDER BY offset")]


@pytest.mark.parametrize(
    "text",
    [
        "A Watercolor Fox, in SNOW!",
        "café crème brûlée; l'été à Paris — naïve coöperation",
        "snake_case kebab-case dot.separated (brackets) [x] {y} 3.14 x² ½",
        "Straße ÆØÅ œuvre İstanbul ǅemal ΣΊΣΥΦΟΣ Ωmega",
        "日本語のテキスト 東京 한국어 中文",
        "ＦＵＬＬ width ｔｅｘｔ",
        "a\u0301 decomposed e\u0300 accents",
        "tabs\tand\nnew lines",
    ],
)
def test_search_words_are_cut_and_folded_as_sqlite_does(text):
    assert words(text) == fts5_words(text)


def through(url, port):
    parts = urlsplit(url)
    return parts._replace(netloc=f"{parts.username}:{parts.password}@127.0.0.1:{port}").geturl()


async def test_an_unreachable_database_is_store_unavailable_and_the_callers_errors_are_its_own(
    postgres_url,
):
    """The driver's connection errors never leak out of the store: a statement or a transaction
    on a database that went away raises StoreUnavailable, and the store works again once it is
    back. An OSError or TimeoutError the caller raises inside a transaction stays what it was."""
    async with (
        Forwarder(free_port(), urlsplit(postgres_url).port) as database,
        opened(through(postgres_url, database.listen_port)) as store,
    ):
        await store.line.add(order("before"), owner_limit=4)
        with pytest.raises(TimeoutError):
            async with store.transaction():
                await store.line.add(order("mine"), owner_limit=4)
                raise TimeoutError  # the caller's own: rolled back, not "unavailable"
        await database.cut()
        with pytest.raises(StoreUnavailable) as statement:
            await store.line.snapshot()
        assert statement.value.detail  # the driver's reason, for the log
        with pytest.raises(StoreUnavailable):
            async with store.transaction():
                await store.line.add(order("during"), owner_limit=4)
        await database.start()
        snapshot = await store.line.snapshot()
        assert [w.order.prompt for w in snapshot.waiting] == ["before"]


async def test_the_pool_never_opens_more_connections_than_its_size(postgres_url):
    """DATABASE_POOL_SIZE bounds what one process takes of the server's max_connections, even
    when many transactions want a connection at once: they wait their turn, and all finish."""
    store = await open_store(postgres_url, pool_size=2)
    try:

        async def write(n):
            async with store.transaction():
                await store.line.add(order(f"prompt {n}"), owner_limit=4)
                await asyncio.sleep(0.01)  # hold the connection a moment

        async def connections():
            async with connect(postgres_url) as conn:
                return await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'imagine-bot' "
                    "AND datname = current_database()"
                )

        writers = asyncio.gather(*(write(n) for n in range(20)))
        seen = []
        while not writers.done():
            seen.append(await connections())
        await writers
        assert max(seen) <= 2 and len((await store.line.snapshot()).waiting) == 20
    finally:
        await store.close()
