"""The store's behaviour, the same for every implementation: each test runs against SQLite and
against Postgres (the ``store`` and ``backend`` fixtures in conftest.py). A second store opened on
the same database stands for the bot after a restart, or for a second bot process."""

import asyncio
from dataclasses import replace

import pytest

from bot.core.types import GuildSettings, JobStatus, NewJob, Order, Waiting, waiting_id


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


def order(prompt="a fox", *, guild_id=1, requester_id=7, count=1):
    return Order(
        guild_id=guild_id, channel_id=10, requester_id=requester_id, prompt=prompt,
        model="flux-1-dev", params={"prompt": prompt, "seed": 3}, count=count,
    )  # fmt: skip


# --- jobs ----------------------------------------------------------------------------------------


async def test_jobs_survive_reopen(backend):
    s = await backend.open()
    await s.jobs.add([job("a"), job("b", batch_index=1, batch_size=2)])
    await s.close()
    s = await backend.open()
    jobs = await s.jobs.open()
    assert [j.generation_id for j in jobs] == ["a", "b"]
    assert jobs[0].params == {"prompt": "a red cube", "seed": 7}
    assert jobs[0].status is JobStatus.PENDING
    assert (jobs[1].batch_index, jobs[1].batch_size) == (1, 2)


async def test_every_field_comes_back_as_it_went_in(store, clock):
    big = 1_234_567_890_123_456_789  # Discord ids need 64 bits
    params = {"prompt": "ü ✓ 🦊", "seed": 2**40, "guidance": 3.5, "input_image": ["u"]}
    await store.jobs.add(
        [job("g", guild_id=big, channel_id=big + 1, requester_id=big + 2, prompt="ü ✓ 🦊",
             params=params, status_message_id=big + 3, upload_limit=25 * 2**20, request_id="r")]
    )  # fmt: skip
    j = await store.jobs.get("g")
    assert (j.guild_id, j.channel_id, j.requester_id) == (big, big + 1, big + 2)
    assert j.status_message_id == big + 3 and j.upload_limit == 25 * 2**20
    assert j.params == params and j.prompt == "ü ✓ 🦊" and j.request_id == "r"
    # Times are float Unix seconds, the very same floats the clock gave.
    assert j.created_at == j.updated_at == clock.now and isinstance(j.created_at, float)
    assert j.finished_at is None and j.started_at is None and j.attempts == 0
    await store.jobs.set_started({"g": 1_700_000_001.654321})
    assert (await store.jobs.get("g")).started_at == 1_700_000_001.654321
    assert await store.jobs.get("missing") is None


async def test_request_id_defaults_to_the_generation_id(store):
    await store.jobs.add([job("solo")])
    assert (await store.jobs.get("solo")).request_id == "solo"
    assert [j.generation_id for j in await store.jobs.of_request("solo")] == ["solo"]


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
    assert await store.jobs.record_attempt("missing") == 0
    await store.jobs.mark_undeliverable("gen-1", "channel gone")
    j = await store.jobs.get("gen-1")
    assert j.status is JobStatus.UNDELIVERABLE and j.error == "channel gone"
    assert await store.jobs.open() == []


async def test_duplicate_generation_id_is_refused_and_saves_none_of_the_batch(backend, store):
    await store.jobs.add([job()])
    with pytest.raises(backend.integrity_error):
        await store.jobs.add([job("new"), job()])
    assert await store.jobs.get("new") is None  # all of a batch or none of it
    await store.jobs.add([])  # nothing to add is fine


async def test_open_jobs_are_oldest_first_and_requests_in_batch_order(store, clock):
    await store.jobs.add([job("b2", request_id="b", batch_index=1), job("b1", request_id="b")])
    clock.now -= 10
    await store.jobs.add([job("older")])
    assert [j.generation_id for j in await store.jobs.open()] == ["older", "b1", "b2"]
    assert [j.generation_id for j in await store.jobs.of_request("b")] == ["b1", "b2"]


async def test_queue_position_counts_the_servers_unstarted_images_asked_earlier(store, clock):
    clock.now = 100.0
    await store.jobs.add([job("a1", request_id="a"), job("a2", request_id="a", batch_index=1)])
    clock.now = 101.0
    await store.jobs.add([job("other-guild", guild_id=99)])
    clock.now = 102.0
    await store.jobs.add([job("b1", request_id="b")])
    assert await store.jobs.queue_position("a") == 1
    assert await store.jobs.queue_position("b") == 3  # both images of "a" are ahead
    await store.jobs.set_started({"a1": 150.0})
    assert await store.jobs.queue_position("a") is None  # being made: no longer in the queue
    assert await store.jobs.queue_position("b") == 2
    assert await store.jobs.queue_position("nobody") is None


async def test_dms_are_a_place_of_their_own(store, clock):
    """guild_id None (a DM with the bot) matches None only, never a server."""
    clock.now = 100.0
    await store.jobs.add([job("dm1", guild_id=None, request_id="dm1")])
    await store.jobs.add([job("srv", guild_id=1, request_id="srv")])
    clock.now = 101.0
    await store.jobs.add([job("dm2", guild_id=None, requester_id=4, request_id="dm2")])
    assert [j.generation_id for j in await store.jobs.queued_in_guild(None)] == ["dm1", "dm2"]
    assert [j.generation_id for j in await store.jobs.queued_in_guild(1)] == ["srv"]
    assert [j.generation_id for j in await store.jobs.pending_for_user(None, 3)] == ["dm1"]
    assert [j.generation_id for j in await store.jobs.pending_for_user(1, 3)] == ["srv"]
    assert await store.jobs.queue_position("dm2") == 2
    assert await store.jobs.queue_position("srv") == 1
    await store.line.add(order("dm waits", guild_id=None))
    assert [w.prompt for w in await store.line.for_user(None, 7)] == ["dm waits"]
    assert await store.line.for_user(1, 7) == []
    dm = await store.jobs.usage(None, 3, since=0)
    assert (dm.in_flight, dm.images_today, dm.server_images_today) == (1, 1, 3)


async def test_pending_for_user_and_queued_in_guild_leave_out_started_and_finished(store):
    await store.jobs.add([job("a"), job("b"), job("c"), job("other", requester_id=4)])
    await store.jobs.set_started({"b": 5.0})
    await store.jobs.record_outcome("c", "succeeded", result_url="u", error=None)
    assert [j.generation_id for j in await store.jobs.pending_for_user(1, 3)] == ["a", "b"]
    assert [j.generation_id for j in await store.jobs.queued_in_guild(1)] == ["a", "other"]
    assert await store.jobs.in_flight() == 3  # pending at Oxen, started or not


async def test_prune_deletes_only_old_finished_jobs_in_batches(store, clock):
    clock.now = 1_000.0
    await store.jobs.add([job(f"old{i}", request_id=f"old{i}") for i in range(3)])
    await store.jobs.add([job("open", request_id="open")])
    for i in range(3):
        await store.jobs.mark_delivered(f"old{i}", 10 + i)
    clock.now = 10_000.0
    await store.jobs.add([job("new", request_id="new")])
    await store.jobs.mark_delivered("new", 99)
    assert await store.jobs.prune(finished_before=5_000.0, limit=2) == 2
    assert await store.jobs.prune(finished_before=5_000.0, limit=2) == 1
    assert await store.jobs.prune(finished_before=5_000.0, limit=2) == 0
    kept = {j.generation_id for j in await store.jobs.open()} | {
        gid for gid in ("new", "old0") if await store.jobs.get(gid)
    }
    assert kept == {"open", "new"}  # unfinished and recent jobs stay


# --- usage ---------------------------------------------------------------------------------------


async def test_usage_counts_images_at_oxen_waiting_in_line_and_today(store, clock):
    clock.now = 1_000.0
    await store.jobs.add([job("yesterday", guild_id=1, requester_id=7)])
    await store.jobs.mark_delivered("yesterday", 1)
    clock.now = 2_000.0
    await store.jobs.add([job("a", guild_id=1, requester_id=7)])
    await store.jobs.add([job("b", guild_id=1, requester_id=7)])
    await store.jobs.record_outcome("b", "succeeded", result_url="u", error=None)  # posting
    await store.line.add(order("waits", count=3))
    clock.now = 2_500.0
    await store.line.add(order("someone else", requester_id=8))
    usage = await store.jobs.usage(1, 7, since=1_500.0)
    assert usage.in_flight == 1  # at Oxen: "b" is finished there, only being posted
    assert usage.waiting == 3 and usage.images_today == 5
    assert usage.last_request_at == 2_000.0
    assert usage.server_images_today == 6
    nobody = await store.jobs.usage(1, 99, since=0)
    assert (nobody.in_flight, nobody.waiting, nobody.images_today) == (0, 0, 0)
    assert nobody.last_request_at is None and nobody.server_images_today == 7
    assert (await store.jobs.usage(None, 7, since=0)).in_flight == 0  # DMs are counted apart
    assert await store.jobs.in_flight() == 1  # only what Oxen has


# --- enqueue intents -----------------------------------------------------------------------------


async def test_enqueue_intent_is_replaced_by_its_jobs_atomically(store, clock):
    intent = await store.intents.begin(guild_id=1, channel_id=2, requester_id=3, prompt="p")
    [left] = await store.intents.interrupted()
    assert (left.id, left.channel_id, left.requester_id, left.prompt) == (intent, 2, 3, "p")
    assert (left.guild_id, left.request_id, left.status_message_id) == (1, None, None)
    await store.intents.end(intent, [job("a")])
    assert await store.intents.interrupted() == []
    assert (await store.jobs.get("a")).status is JobStatus.PENDING


async def test_an_intent_that_queued_nothing_just_ends(store):
    first = await store.intents.begin(guild_id=None, channel_id=2, requester_id=3, prompt="a")
    second = await store.intents.begin(guild_id=None, channel_id=2, requester_id=3, prompt="b")
    assert second > first
    await store.intents.end(first)
    assert [e.prompt for e in await store.intents.interrupted()] == ["b"]
    await store.intents.end(12345)  # unknown: nothing happens


async def test_interrupted_enqueue_survives_reopen(backend):
    s = await backend.open()
    await s.intents.begin(guild_id=None, channel_id=2, requester_id=3, prompt="lost")
    await s.close()  # the bot died before Oxen's answer was recorded
    s = await backend.open()
    [left] = await s.intents.interrupted()
    assert left.prompt == "lost" and left.guild_id is None
    await s.intents.forget(left.id)
    assert await s.intents.interrupted() == []


async def test_an_enqueue_from_the_line_is_found_by_its_request(store):
    waiting = await store.line.add(order("from the line"))
    await store.jobs.attach_status_message(waiting.request_id, 77)
    intent = await store.line.take(await store.line.get(waiting.id))
    found = await store.intents.for_request(waiting.request_id)
    assert found is not None and found.id == intent and found.status_message_id == 77
    assert await store.intents.for_request("line-999") is None


# --- the waiting line ----------------------------------------------------------------------------


async def test_waiting_line_keeps_order_and_survives_reopen(backend):
    s = await backend.open()
    first = await s.line.add(order("first"))
    second = await s.line.add(order("second", count=3), owner_limit=2)
    await s.jobs.attach_status_message(second.request_id, 555)
    await s.close()
    s = await backend.open()
    line = await s.line.in_order()
    assert [w.prompt for w in line] == ["first", "second"]
    assert line[1].order.count == 3 and line[1].order.params == {"prompt": "second", "seed": 3}
    assert line[1].status_message_id == 555 and line[1].owner_limit == 2
    assert line[1] == Waiting(second.id, second.order, 555, second.created_at, 2)
    assert await s.line.position(second.id) == 2
    assert waiting_id(second.request_id) == second.id and waiting_id("gen-1") is None
    assert await s.line.count() == 2 and first.id < second.id


async def test_in_order_takes_a_limit_and_minus_one_means_all(store):
    for prompt in ("a", "b", "c"):
        await store.line.add(order(prompt))
    assert [w.prompt for w in await store.line.in_order(2)] == ["a", "b"]
    assert [w.prompt for w in await store.line.in_order(-1)] == ["a", "b", "c"]
    assert [w.prompt for w in await store.line.in_order()] == ["a", "b", "c"]
    assert await store.line.in_order(0) == []


async def test_taking_from_the_line_becomes_an_intent_and_can_go_back(store):
    first = await store.line.add(order("first"))
    await store.line.add(order("second"))
    intent = await store.line.take(first)
    assert intent is not None
    assert [e.prompt for e in await store.intents.interrupted()] == ["first"]
    assert [e.request_id for e in await store.intents.interrupted()] == [first.request_id]
    assert [w.prompt for w in await store.line.in_order()] == ["second"]
    assert await store.line.take(first) is None  # already taken: never sent twice

    await store.line.put_back(first, intent)  # Oxen was busy: back to its old place
    assert [w.prompt for w in await store.line.in_order()] == ["first", "second"]
    assert await store.line.get(first.id) == first
    assert await store.intents.interrupted() == []
    await store.line.put_back(first, intent)  # twice: still once in line
    assert await store.line.count() == 2
    assert await store.line.remove(first.id) and not await store.line.remove(first.id)
    assert await store.line.get(first.id) is None


async def test_a_new_request_never_takes_an_old_id(backend):
    s = await backend.open()
    gone = await s.line.add(order("gone"))
    await s.line.remove(gone.id)
    await s.close()
    s = await backend.open()
    assert (await s.line.add(order("new"))).id > gone.id  # line-<id> names one request only


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


async def test_status_message_attached_while_in_line_goes_along(store):
    waiting = await store.line.add(order("posted first"))
    await store.jobs.attach_status_message(waiting.request_id, 4343)
    intent = await store.line.take(await store.line.get(waiting.id))
    [sending] = await store.intents.interrupted()
    assert sending.id == intent and sending.status_message_id == 4343


async def test_status_message_attached_after_the_line_was_read_goes_along(store):
    waiting = await store.line.add(order("read before it was posted"))
    [read] = await store.line.in_order()  # the pump reads the line...
    await store.jobs.attach_status_message(waiting.request_id, 4444)  # ...the message is posted
    await store.line.take(read)  # ...and the pump takes what it read
    [sending] = await store.intents.interrupted()
    assert sending.status_message_id == 4444


async def test_line_snapshot_has_each_owners_images_at_oxen_and_last_sends(store, clock):
    clock.now = 100.0
    await store.jobs.add([job("a1", guild_id=1, requester_id=7), job("x", guild_id=2)])
    clock.now = 200.0
    await store.jobs.add([job("a2", guild_id=1, requester_id=7)])
    await store.jobs.add([job("other", guild_id=1, requester_id=8)])
    await store.jobs.mark_delivered("other", 1)
    first = await store.line.add(order("first", guild_id=1, requester_id=7))
    await store.line.add(order("second", guild_id=1, requester_id=7))
    eight = await store.line.add(order("eight", guild_id=1, requester_id=8))
    new = await store.line.add(order("new", guild_id=3, requester_id=9))
    snap = await store.line.snapshot()
    assert [w.prompt for w in snap.waiting] == ["first", "second", "eight", "new"]
    assert snap.in_flight == {(1, 7): 2}  # only owners in line, only images at Oxen
    assert snap.owner_last_sent == {(1, 7): 200.0, (1, 8): 200.0}
    assert snap.guild_last_sent == {1: 200.0}  # server 2 has nobody in line, 3 never sent
    heads = await store.line.snapshot(heads_only=True)
    assert [w.id for w in heads.waiting] == [first.id, eight.id, new.id]
    assert heads.in_flight == snap.in_flight


async def test_line_snapshot_counts_dms_apart(store, clock):
    clock.now = 300.0
    await store.jobs.add([job("dm", guild_id=None, requester_id=7), job("srv", requester_id=7)])
    await store.line.add(order("dm waits", guild_id=None, requester_id=7))
    snap = await store.line.snapshot()
    assert snap.in_flight == {(None, 7): 1}
    assert snap.owner_last_sent == {(None, 7): 300.0} and snap.guild_last_sent == {None: 300.0}


async def test_line_snapshot_of_an_empty_line(store):
    await store.jobs.add([job("a")])
    snap = await store.line.snapshot()
    assert (snap.waiting, snap.in_flight, snap.owner_last_sent, snap.guild_last_sent) == (
        [],
        {},
        {},
        {},
    )


# --- server settings and meta --------------------------------------------------------------------


async def test_server_settings_default_then_change(store):
    assert await store.servers.get(5) == GuildSettings()
    before, after = await store.servers.update(5, lambda s: s)  # no change: nothing to save
    assert before == after == GuildSettings() == await store.servers.get(5)
    before, after = await store.servers.update(
        5, lambda s: replace(s, banned_words=("x",), daily_quota=3)
    )
    assert before == GuildSettings() and after.banned_words == ("x",) and after.daily_quota == 3
    assert await store.servers.get(5) == after
    assert await store.servers.get(6) == GuildSettings()  # per server


async def test_a_change_that_fails_saves_nothing(store):
    def broken(_settings):
        raise ValueError("no")

    with pytest.raises(ValueError):
        await store.servers.update(5, broken)
    assert await store.servers.get(5) == GuildSettings()


async def test_meta_roundtrip(store):
    assert await store.meta.get("k") is None
    await store.meta.set("k", "1")
    await store.meta.set("k", "2")
    assert await store.meta.get("k") == "2"


async def test_ping(store):
    await store.ping()


# --- transactions --------------------------------------------------------------------------------


async def test_nested_store_calls_join_the_open_transaction(store):
    async with store.transaction():
        first = await store.line.add(order("a"))
        await store.line.add(order("b"))
        assert [w.prompt for w in await store.line.in_order()] == ["a", "b"]
        async with store.transaction():  # nested: the same transaction
            await store.meta.set("k", "v")
    assert await store.line.position(first.id) == 1
    assert await store.meta.get("k") == "v"


async def test_an_error_inside_a_transaction_rolls_all_of_it_back(store):
    with pytest.raises(RuntimeError):
        async with store.transaction():
            await store.line.add(order("a"))
            await store.meta.set("k", "v")
            async with store.transaction():
                await store.jobs.add([job()])
            raise RuntimeError("crashed half-way")
    assert await store.line.count() == 0
    assert await store.meta.get("k") is None and await store.jobs.get("gen-1") is None
    await store.meta.set("k", "after")  # and the store goes on working
    assert await store.meta.get("k") == "after"


async def test_another_write_cannot_land_inside_a_transaction(store):
    """While a transaction is open, others never see its half-done work, a write to the same
    row waits for its outcome, and a write of their own is not undone by its rollback."""
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
    remover = asyncio.create_task(store.line.remove(waiting.id))
    await asyncio.sleep(0.1)
    assert not remover.done()  # the same row: it waits for the transaction to end
    crash.set()
    with pytest.raises(RuntimeError):
        await mover
    assert await reader is not None  # never saw the half-done move
    await writer
    assert await remover  # the row was still there: rolled back
    assert await store.meta.get("k") == "v"


async def test_two_processes_taking_the_same_request_send_it_once(backend):
    first, second = await backend.open(), await backend.open()
    for _round in range(5):
        waiting = await first.line.add(order("only once"))
        taken = await asyncio.gather(first.line.take(waiting), second.line.take(waiting))
        assert sorted(t is None for t in taken) == [False, True]  # exactly one got it
    assert len(await first.intents.interrupted()) == 5
    assert await second.line.count() == 0


async def test_two_processes_changing_settings_at_once_both_land(backend):
    first, second = await backend.open(), await backend.open()

    def one_more(settings):
        return replace(settings, daily_quota=settings.daily_quota + 1)

    start = GuildSettings().daily_quota
    results = await asyncio.gather(
        *(store.servers.update(5, one_more) for _ in range(10) for store in (first, second))
    )
    assert (await first.servers.get(5)).daily_quota == start + 20  # no change lost
    # Each saw the one before it: the befores are every count once.
    assert sorted(before.daily_quota for before, _after in results) == list(
        range(start, start + 20)
    )


@pytest.mark.parametrize("ticks", [0, 1, 3, 6])
async def test_a_transaction_cancelled_anywhere_leaves_nothing_open(backend, store, ticks):
    async def move() -> None:
        async with store.transaction():
            await store.meta.set("inside", "never")
            await store.line.add(order("never"))
            await asyncio.sleep(10)

    task = asyncio.create_task(move())
    for _ in range(ticks):
        await asyncio.sleep(0)
    task.cancel()  # shutdown cancels it, wherever it is
    with pytest.raises(asyncio.CancelledError):
        await task
    async with asyncio.timeout(5):
        await store.meta.set("after", "saved")
        other = await backend.open()  # another process can write: no lock was left behind
        await other.meta.set("other", "saved too")
        assert await store.meta.get("inside") is None and await store.line.count() == 0
        assert await other.meta.get("after") == "saved"
        assert await store.meta.get("other") == "saved too"
