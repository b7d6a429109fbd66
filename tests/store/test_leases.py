"""Several bot processes on one store: leases on jobs and on prompts being sent, admissions
serialized per key, and IDENTIFYs spaced per gateway bucket. Part of the one store suite: every
test runs against SQLite and against Postgres (conftest.py); a second store opened on the same
database is a second process."""

import asyncio
import itertools
import time

from bot.core.types import JobStatus
from tests.store.test_store import job, order

LEASE = 30.0


# --- claims on jobs ------------------------------------------------------------------------------


async def test_a_claim_leases_an_open_job_to_one_owner_until_it_expires(store, clock):
    await store.jobs.add([job("g")])
    claimed = await store.jobs.claim("g", "a", LEASE)
    assert claimed is not None and claimed.generation_id == "g"
    assert claimed.lease_owner == "a" and claimed.lease_expires_at == clock.now + LEASE
    assert claimed.status is JobStatus.PENDING
    assert await store.jobs.claim("g", "b", LEASE) is None  # a works on it
    assert await store.jobs.claim("g", "a", LEASE) is not None  # its own claim again: fine
    clock.now += LEASE - 0.001
    assert await store.jobs.claim("g", "b", LEASE) is None  # not yet expired
    clock.now += 0.001
    taken = await store.jobs.claim("g", "b", LEASE)  # a died: its lease ran out
    assert taken is not None and taken.lease_owner == "b"
    assert (await store.jobs.get("g")).lease_owner == "b"


async def test_finished_or_unknown_jobs_cannot_be_claimed_and_hold_no_lease(store):
    await store.jobs.add([job("posted"), job("lost")])
    await store.jobs.claim("posted", "a", LEASE)
    await store.jobs.record_outcome("posted", "succeeded", result_url="u", error=None)
    delivering = await store.jobs.get("posted")
    assert delivering.lease_owner == "a"  # recording the outcome keeps the lease
    await store.jobs.mark_delivered("posted", 5)
    await store.jobs.claim("lost", "a", LEASE)
    await store.jobs.mark_undeliverable("lost", "nowhere")
    for gid in ("posted", "lost"):
        finished = await store.jobs.get(gid)
        assert finished.lease_owner is None and finished.lease_expires_at is None
        assert await store.jobs.claim(gid, "b", LEASE) is None
    assert await store.jobs.claim("missing", "a", LEASE) is None


async def test_a_delivering_job_can_be_claimed_to_resume_it(store):
    await store.jobs.add([job("g")])
    await store.jobs.record_outcome("g", "succeeded", result_url="u", error=None)
    claimed = await store.jobs.claim("g", "a", LEASE)
    assert claimed is not None and claimed.status is JobStatus.DELIVERING


async def test_leases_never_move_updated_at(store, clock):
    """A resumed delivery looks for its earlier post from updated_at on."""
    await store.jobs.add([job("g")])
    await store.jobs.record_outcome("g", "succeeded", result_url="u", error=None)
    recorded = (await store.jobs.get("g")).updated_at
    clock.now += 100
    await store.jobs.claim("g", "a", LEASE)
    await store.jobs.renew("a", LEASE)
    await store.jobs.release("g", "a")
    assert (await store.jobs.get("g")).updated_at == recorded


async def test_renew_extends_every_lease_of_its_owner_and_says_which_it_still_holds(store, clock):
    await store.jobs.add([job("mine"), job("also mine"), job("theirs"), job("taken")])
    for gid in ("mine", "also mine", "taken"):
        await store.jobs.claim(gid, "a", LEASE)
    await store.jobs.claim("theirs", "b", LEASE)
    clock.now += LEASE  # a was too slow to renew: b takes one of its jobs over
    assert await store.jobs.claim("taken", "b", LEASE) is not None
    assert await store.jobs.renew("a", LEASE) == {"mine", "also mine"}
    assert (await store.jobs.get("mine")).lease_expires_at == clock.now + LEASE
    assert (await store.jobs.get("theirs")).lease_expires_at == clock.now  # b's, untouched
    assert await store.jobs.renew("nobody", LEASE) == set()


async def test_release_gives_up_only_ones_own_lease(store):
    await store.jobs.add([job("g")])
    await store.jobs.claim("g", "a", LEASE)
    await store.jobs.release("g", "b")  # not b's to give
    assert (await store.jobs.get("g")).lease_owner == "a"
    await store.jobs.release("g", "a")
    assert (await store.jobs.get("g")).lease_owner is None
    assert await store.jobs.claim("g", "b", LEASE) is not None  # at once, no expiry to wait for


async def test_release_all_frees_the_leases_of_an_earlier_run(store):
    await store.jobs.add([job("1"), job("2"), job("3")])
    await store.jobs.claim("1", "shards-0-of-2/host/41/aaaa", LEASE)
    await store.jobs.claim("2", "shards-0-of-2/host/41/aaaa", LEASE)
    await store.jobs.claim("3", "shards-0-1-of-2/host/42/bbbb", LEASE)  # not the same process
    assert await store.jobs.release_all("shards-0-of-2/") == 2
    owners = [(await store.jobs.get(gid)).lease_owner for gid in ("1", "2", "3")]
    assert owners == [None, None, "shards-0-1-of-2/host/42/bbbb"]


async def test_two_processes_claiming_the_same_jobs_at_once_get_each_job_once(backend):
    first, second = await backend.open(), await backend.open()
    gids = [f"g{i}" for i in range(20)]
    await first.jobs.add([job(gid) for gid in gids])
    for gid in gids:
        claims = await asyncio.gather(
            first.jobs.claim(gid, "first", LEASE), second.jobs.claim(gid, "second", LEASE)
        )
        assert sorted(c is None for c in claims) == [False, True], gid  # exactly one got it
        winner = next(c for c in claims if c is not None)
        assert (await first.jobs.get(gid)).lease_owner == winner.lease_owner


async def test_many_claimers_at_once_one_winner_per_job(backend):
    stores = [await backend.open() for _ in range(3)]
    await stores[0].jobs.add([job(f"g{i}") for i in range(10)])
    claims = await asyncio.gather(
        *(
            s.jobs.claim(f"g{i}", f"owner-{n}", LEASE)
            for i in range(10)
            for n, s in enumerate(stores)
            for _ in range(2)  # each process twice: its own claim again is fine
        )
    )
    for i in range(10):
        winners = {c.lease_owner for c in claims if c is not None and c.generation_id == f"g{i}"}
        assert len(winners) == 1


# --- prompts being sent ----------------------------------------------------------------------


async def test_a_prompt_being_sent_counts_as_in_flight_for_its_owner_and_the_bot(store, clock):
    await store.jobs.add([job("at oxen", guild_id=1, requester_id=7)])
    await store.intents.begin(
        guild_id=1, channel_id=2, requester_id=7, prompt="p", count=3, owner="a",
        lease_seconds=LEASE,
    )  # fmt: skip
    usage = await store.jobs.usage(1, 7, since=0)
    assert usage.in_flight == 4 and usage.images_today == 4 and usage.waiting == 0
    assert usage.last_request_at == clock.now and usage.server_images_today == 4
    assert await store.jobs.in_flight() == 4
    await store.line.add(order("waits", guild_id=1, requester_id=7))
    snapshot = await store.line.snapshot()
    assert snapshot.in_flight == {(1, 7): 4}
    heads = await store.line.snapshot(heads_only=True)
    assert heads.in_flight == {(1, 7): 4}


async def test_a_prompt_being_sent_is_interrupted_only_once_its_lease_runs_out(store, clock):
    sending = await store.intents.begin(
        guild_id=1, channel_id=2, requester_id=3, prompt="p", owner="a", lease_seconds=LEASE
    )
    unowned = await store.intents.begin(guild_id=1, channel_id=2, requester_id=3, prompt="q")
    assert [e.id for e in await store.intents.interrupted()] == [unowned]
    clock.now += LEASE / 2
    await store.intents.renew("a", LEASE)
    clock.now += LEASE - 1
    assert [e.id for e in await store.intents.interrupted()] == [unowned]  # renewed: alive
    clock.now += 1
    assert [e.id for e in await store.intents.interrupted()] == [sending, unowned]


async def test_taking_from_the_line_leases_the_intent_and_keeps_its_count(store, clock):
    waiting = await store.line.add(order("from the line", count=2))
    intent = await store.line.take(waiting, "a", LEASE)
    assert intent is not None
    assert await store.intents.interrupted() == []  # a is sending it
    assert await store.jobs.in_flight() == 2
    clock.now += LEASE
    [left] = await store.intents.interrupted()
    assert left.id == intent and left.request_id == waiting.request_id


async def test_two_processes_claim_interrupted_prompts_each_once(backend, clock):
    first, second = await backend.open(), await backend.open()
    ids = [
        await first.intents.begin(guild_id=1, channel_id=2, requester_id=3, prompt=f"p{i}")
        for i in range(6)
    ]
    claimed = await asyncio.gather(
        first.intents.claim_interrupted("first", LEASE),
        second.intents.claim_interrupted("second", LEASE),
    )
    got = [e.id for batch in claimed for e in batch]
    assert sorted(got) == ids  # every one, and none twice
    assert await first.intents.interrupted() == []  # being explained
    assert await first.intents.claim_interrupted("third", LEASE) == []


async def test_release_all_interrupts_the_prompts_of_an_earlier_run(store):
    await store.intents.begin(
        guild_id=1, channel_id=2, requester_id=3, prompt="p", owner="main/h/1/aa",
        lease_seconds=LEASE,
    )  # fmt: skip
    assert await store.intents.interrupted() == []
    assert await store.intents.release_all("main/") == 1
    assert [e.prompt for e in await store.intents.interrupted()] == ["p"]


# --- admissions serialized per key ---------------------------------------------------------------


async def test_two_processes_admitting_one_persons_requests_at_once_keep_the_limit(backend):
    """Count, check and record in one locked step: the limit holds however they interleave."""
    first, second = await backend.open(), await backend.open()
    limit = 4

    async def admit(store, n: int) -> bool:
        async with store.locked("owner:1:7"):
            usage = await store.jobs.usage(1, 7, since=0)
            await asyncio.sleep(0.01)  # widen the window between the count and the record
            if usage.in_flight + 1 > limit:
                return False
            await store.intents.begin(
                guild_id=1, channel_id=2, requester_id=7, prompt=f"r{n}", owner="x",
                lease_seconds=LEASE,
            )  # fmt: skip
            return True

    results = await asyncio.gather(*(admit(s, n) for n in range(6) for s in (first, second)))
    assert sum(results) == limit
    assert (await first.jobs.usage(1, 7, since=0)).in_flight == limit


async def test_locks_on_other_keys_do_not_wait_for_each_other(backend):
    first, second = await backend.open(), await backend.open()
    if backend.name == "sqlite":
        return  # SQLite has one write lock for the whole file: every writer takes turns
    inside = asyncio.Event()
    release = asyncio.Event()

    async def hold() -> None:
        async with first.locked("owner:1:7"):
            inside.set()
            await release.wait()

    holder = asyncio.create_task(hold())
    await inside.wait()
    async with asyncio.timeout(5):
        async with second.locked("owner:1:8", "cap"):
            await second.meta.set("other", "in")
    blocked = asyncio.create_task(_locked_set(second, "owner:1:7"))
    await asyncio.sleep(0.2)
    assert not blocked.done()  # the same key waits for the holder
    release.set()
    await holder
    async with asyncio.timeout(5):
        await blocked


async def _locked_set(store, key: str) -> None:
    async with store.locked(key):
        await store.meta.set(key, "in")


# --- gateway IDENTIFYs -----------------------------------------------------------------------


async def test_identifies_in_one_bucket_are_spaced_across_processes(backend):
    stores = [await backend.open(clock=time.time) for _ in range(2)]
    spacing = 0.3
    turns: list[tuple[int, float]] = []

    async def identify(store, bucket: int) -> None:
        await store.gateway.identify_turn(bucket, spacing)
        turns.append((bucket, time.monotonic()))

    started = time.monotonic()
    await asyncio.gather(*(identify(s, 0) for s in stores), identify(stores[0], 0))
    await asyncio.gather(identify(stores[1], 1))  # another bucket: no wait for bucket 0
    times = sorted(t for bucket, t in turns if bucket == 0)
    assert len(times) == 3
    assert all(b - a >= spacing * 0.95 for a, b in itertools.pairwise(times))
    assert times[0] - started < spacing  # the first goes at once
    other = next(t for bucket, t in turns if bucket == 1)
    assert other - times[-1] < spacing
