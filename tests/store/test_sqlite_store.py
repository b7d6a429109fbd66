import asyncio
import contextlib
import sqlite3

import pytest

from bot.core.types import JobStatus, NewJob, Order, waiting_id
from bot.store.sqlite import SCHEMA_VERSION, SqliteStore
from bot.store.sqlite.migrations import MIGRATIONS


def job(gid="gen-1", **overrides):
    values = dict(
        generation_id=gid,
        guild_id=1,
        channel_id=2,
        requester_id=3,
        prompt="a red cube",
        model="m",
        params={"prompt": "a red cube", "seed": 7},
    )
    values.update(overrides)
    return NewJob(**values)


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


async def test_jobs_survive_reopen(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    s = await SqliteStore.open(path)
    await s.jobs.add([job("a"), job("b", batch_index=1, batch_size=2)])
    await s.close()
    s = await SqliteStore.open(path)
    try:
        jobs = await s.jobs.open()
        assert [j.generation_id for j in jobs] == ["a", "b"]
        assert jobs[0].params == {"prompt": "a red cube", "seed": 7}
        assert jobs[0].status is JobStatus.PENDING
    finally:
        await s.close()


async def test_lifecycle_pending_to_delivered(store):
    await store.jobs.add([job()])
    await store.jobs.attach_status_message("gen-1", 99)
    await store.jobs.record_outcome("gen-1", "succeeded", result_url="http://x/y.png", error=None)
    j = await store.jobs.get("gen-1")
    assert j.status is JobStatus.DELIVERING and j.outcome == "succeeded"
    assert j.status_message_id == 99 and j.result_url == "http://x/y.png"
    assert await store.jobs.open_in_request("gen-1") == 1
    await store.jobs.mark_delivered("gen-1", 1234)
    j = await store.jobs.get("gen-1")
    assert j.status is JobStatus.DELIVERED and j.result_message_id == 1234 and j.finished_at
    assert await store.jobs.open() == []
    assert await store.jobs.open_in_request("gen-1") == 0


async def test_attempts_and_undeliverable(store):
    await store.jobs.add([job()])
    assert await store.jobs.record_attempt("gen-1") == 1
    assert await store.jobs.record_attempt("gen-1") == 2
    await store.jobs.mark_undeliverable("gen-1", "channel gone")
    j = await store.jobs.get("gen-1")
    assert j.status is JobStatus.UNDELIVERABLE and j.error == "channel gone"
    assert await store.jobs.open() == []


async def test_duplicate_generation_id_is_refused(store):
    await store.jobs.add([job()])
    with pytest.raises(sqlite3.IntegrityError):
        await store.jobs.add([job()])


async def test_meta_roundtrip(store):
    assert await store.meta.get("k") is None
    await store.meta.set("k", "1")
    await store.meta.set("k", "2")
    assert await store.meta.get("k") == "2"


async def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(RuntimeError, match="newer than this bot"):
        await SqliteStore.open(path)


async def test_enqueue_intent_is_replaced_by_its_jobs_atomically(store):
    intent = await store.intents.begin(guild_id=1, channel_id=2, requester_id=3, prompt="p")
    [left] = await store.intents.interrupted()
    assert (left.id, left.channel_id, left.requester_id, left.prompt) == (intent, 2, 3, "p")
    await store.intents.end(intent, [job("a")])
    assert await store.intents.interrupted() == []
    assert (await store.jobs.get("a")).status is JobStatus.PENDING


async def test_interrupted_enqueue_survives_reopen(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    s = await SqliteStore.open(path)
    await s.intents.begin(guild_id=None, channel_id=2, requester_id=3, prompt="lost")
    await s.close()  # the bot died before Oxen's answer was recorded
    s = await SqliteStore.open(path)
    try:
        [left] = await s.intents.interrupted()
        assert left.prompt == "lost"
        await s.intents.forget(left.id)
        assert await s.intents.interrupted() == []
    finally:
        await s.close()


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


async def test_queue_position_counts_the_servers_unstarted_images_asked_earlier(tmp_path):
    now = [100.0]
    s = await SqliteStore.open(tmp_path / "jobs.sqlite3", clock=lambda: now[0])
    try:
        await s.jobs.add([job("a1", request_id="a"), job("a2", request_id="a", batch_index=1)])
        now[0] = 101.0
        await s.jobs.add([job("other-guild", guild_id=99)])
        now[0] = 102.0
        await s.jobs.add([job("b1", request_id="b")])
        assert await s.jobs.queue_position("a") == 1
        assert await s.jobs.queue_position("b") == 3  # both images of "a" are ahead
        await s.jobs.set_started({"a1": 150.0})
        assert await s.jobs.queue_position("a") is None  # being made: no longer in the queue
        assert await s.jobs.queue_position("b") == 2
    finally:
        await s.close()


def order(prompt="a fox", *, guild_id=1, requester_id=7, count=1):
    return Order(
        guild_id=guild_id, channel_id=10, requester_id=requester_id, prompt=prompt,
        model="flux-1-dev", params={"prompt": prompt, "seed": 3}, count=count,
    )  # fmt: skip


async def test_waiting_line_keeps_order_and_survives_reopen(tmp_path):
    path = tmp_path / "line.sqlite3"
    s = await SqliteStore.open(path)
    first = await s.line.add(order("first"))
    second = await s.line.add(order("second", count=3))
    await s.jobs.attach_status_message(second.request_id, 555)
    await s.close()
    s = await SqliteStore.open(path)
    try:
        line = await s.line.in_order()
        assert [w.prompt for w in line] == ["first", "second"]
        assert line[1].order.count == 3 and line[1].order.params == {"prompt": "second", "seed": 3}
        assert line[1].status_message_id == 555
        assert await s.line.position(second.id) == 2
        assert waiting_id(second.request_id) == second.id and waiting_id("gen-1") is None
        assert await s.line.count() == 2 and first.id < second.id
    finally:
        await s.close()


async def test_taking_from_the_line_becomes_an_intent_and_can_go_back(store):
    first = await store.line.add(order("first"))
    await store.line.add(order("second"))
    intent = await store.line.take(first)
    assert intent is not None
    assert [e.prompt for e in await store.intents.interrupted()] == ["first"]
    assert [w.prompt for w in await store.line.in_order()] == ["second"]
    assert await store.line.take(first) is None  # already taken: never sent twice

    await store.line.put_back(first, intent)  # Oxen was busy: back to its old place
    assert [w.prompt for w in await store.line.in_order()] == ["first", "second"]
    assert await store.intents.interrupted() == []
    assert await store.line.remove(first.id) and not await store.line.remove(first.id)


async def test_usage_counts_images_waiting_in_line(store):
    await store.jobs.add([job("a", guild_id=1, requester_id=7)])
    await store.line.add(order("waits", count=3))
    await store.line.add(order("someone else", requester_id=8))
    usage = await store.jobs.usage(1, 7, since=0)
    assert usage.in_flight == 4 and usage.images_today == 4
    assert usage.server_images_today == 5
    assert (await store.jobs.usage(None, 7, since=0)).in_flight == 0  # DMs are counted apart
    assert await store.jobs.in_flight() == 1  # only what Oxen has


async def test_status_message_attached_while_leaving_the_line_is_kept(store):
    waiting = await store.line.add(order("racing"))
    intent = await store.line.take(waiting)  # the line sends it...
    # ...as the status message is posted:
    await store.jobs.attach_status_message(waiting.request_id, 4242)
    await store.intents.end(
        intent,
        [NewJob(generation_id="g1", channel_id=10, requester_id=7, prompt="racing", model="m",
                guild_id=1, request_id=waiting.request_id)],
    )  # fmt: skip
    assert (await store.jobs.get("g1")).status_message_id == 4242


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


async def test_another_write_cannot_land_inside_a_transaction(store):
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


async def test_nested_store_calls_join_the_open_transaction(store):
    async with store.transaction():
        first = await store.line.add(order("a"))
        await store.line.add(order("b"))
        assert [w.prompt for w in await store.line.in_order()] == ["a", "b"]
    assert await store.line.position(first.id) == 1


async def test_prune_deletes_only_old_finished_jobs_in_batches(tmp_path):
    now = [1_000.0]
    s = await SqliteStore.open(tmp_path / "jobs.sqlite3", clock=lambda: now[0])
    try:
        await s.jobs.add([job(f"old{i}", request_id=f"old{i}") for i in range(3)])
        await s.jobs.add([job("open", request_id="open")])
        for i in range(3):
            await s.jobs.mark_delivered(f"old{i}", 10 + i)
        now[0] = 10_000.0
        await s.jobs.add([job("new", request_id="new")])
        await s.jobs.mark_delivered("new", 99)
        assert await s.jobs.prune(finished_before=5_000.0, limit=2) == 2
        assert await s.jobs.prune(finished_before=5_000.0, limit=2) == 1
        assert await s.jobs.prune(finished_before=5_000.0, limit=2) == 0
        kept = {j.generation_id for j in await s.jobs.open()} | {
            gid for gid in ("new", "old0") if await s.jobs.get(gid)
        }
        assert kept == {"open", "new"}  # unfinished and recent jobs stay
    finally:
        await s.close()
