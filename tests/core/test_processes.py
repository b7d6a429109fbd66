"""Several bot processes on one store, at the core's level: watchers (each with its own store
connection, as processes have) against the fake Oxen, and the services that admit requests.
Each test runs on SQLite and on Postgres."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.core.catalog import ModelCatalog
from bot.core.enqueue import Enqueuer
from bot.core.errors import UserFacingError
from bot.core.imagine import ImagineService
from bot.core.leases import Holder, LeaseKeeper
from bot.core.reporting import Reporters
from bot.core.types import GuildSettings, ImagineRequest, JobStatus, Origin
from bot.core.waiting_line import WaitingLine
from bot.core.watcher import Watcher
from bot.oxen import GenerationStatus
from bot.store.postgres import PostgresStore
from bot.store.sqlite import SqliteStore
from tests.fakes.recorders import RecordingDelivery, enqueue
from tests.waiting import wait_until

LEASE = 1.0


@pytest.fixture(params=["sqlite", "postgres"])
def database(request, tmp_path) -> tuple[str, str]:
    """(implementation, where): a SQLite file, or a fresh Postgres database."""
    if request.param == "sqlite":
        return "sqlite", str(tmp_path / "shared.sqlite3")
    return "postgres", request.getfixturevalue("postgres_url")


@pytest.fixture
async def processes(database):
    """Opens stores on one database, one per process; closes them all."""
    name, where = database
    opened = []

    async def open_store():
        store = await (SqliteStore.open(where) if name == "sqlite" else PostgresStore.open(where))
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        await store.close()


def holder(name: str, role: str = "shards-0-of-3") -> Holder:
    return Holder(f"{role}/host/1/{name}", LEASE)


def watcher_for(oxen_client, store, name, delivery=None, role="shards-0-of-3"):
    """A process's watcher; its leases are held as ``holder(name, role)``."""
    delivery = delivery or RecordingDelivery()
    watcher = Watcher(
        oxen_client, store, delivery, reporter=delivery, poll_interval=0.05,
        holder=holder(name, role),
    )  # fmt: skip
    return watcher, delivery


async def test_every_process_hears_a_completion_and_exactly_one_posts_it(
    oxen, oxen_client, processes
):
    stores = [await processes() for _ in range(3)]
    oxen.hold = True
    gids = await enqueue(oxen_client, stores[0], count=4)
    watchers = [watcher_for(oxen_client, s, f"p{n}") for n, s in enumerate(stores)]
    for gid in gids:
        await oxen.complete(gid)
        url = oxen.generations[gid]["result_url"]
        results = await asyncio.gather(
            *(w.finish(gid, GenerationStatus.SUCCEEDED, result_url=url) for w, _ in watchers)
        )
        assert sorted(results) == [False, False, True]
    delivered = [j.generation_id for _, d in watchers for j in d.delivered]
    assert sorted(delivered) == sorted(gids)
    for gid in gids:
        job = await stores[0].jobs.get(gid)
        assert job.status is JobStatus.DELIVERED and job.lease_owner is None


async def test_passes_in_every_process_check_and_post_each_job_once(oxen, oxen_client, processes):
    """Every process's event stream is down: their passes poll, and claim before they ask."""
    stores = [await processes() for _ in range(3)]
    oxen.hold = True
    gids = await enqueue(oxen_client, stores[0], count=4)
    for gid in gids:
        await oxen.complete(gid)
    watchers = [watcher_for(oxen_client, s, f"p{n}") for n, s in enumerate(stores)]
    before = oxen.count("GET", "/api/ai/queue/")
    await asyncio.gather(*(w.run_pass() for w, _ in watchers))
    delivered = [j.generation_id for _, d in watchers for j in d.delivered]
    assert sorted(delivered) == sorted(gids)
    assert oxen.count("GET", "/api/ai/queue/") - before == len(gids)  # one asks per job


async def test_a_dead_processes_delivery_is_taken_over_when_its_lease_runs_out(
    oxen, oxen_client, processes
):
    first, second = await processes(), await processes()
    oxen.hold = True
    [gid] = await enqueue(oxen_client, first)
    await oxen.complete(gid)
    url = oxen.generations[gid]["result_url"]
    # The first process recorded the outcome and was posting when it was killed.
    dead = holder("dead", role="shards-1-of-3")
    assert await first.jobs.claim(gid, dead.owner, LEASE) is not None
    await first.jobs.record_outcome(gid, "succeeded", result_url=url, error=None)
    killed_at = time.monotonic()
    watcher, delivery = watcher_for(oxen_client, second, "alive")
    watcher.start()
    try:
        await watcher.run_pass()  # at once: its lease holds, nothing is done
        assert delivery.delivered == []
        await wait_until(lambda: delivery.delivered, timeout=5, interval=0.01)
    finally:
        await watcher.stop()
    took = time.monotonic() - killed_at
    assert LEASE <= took < LEASE + 1.0  # woken by the expiry, not by a slow tick
    assert (await second.jobs.get(gid)).status is JobStatus.DELIVERED


async def test_a_process_that_lost_its_lease_does_not_post(oxen, oxen_client, processes):
    first, second = await processes(), await processes()
    oxen.hold = True
    [gid] = await enqueue(oxen_client, first)
    await oxen.complete(gid)
    url = oxen.generations[gid]["result_url"]
    preparing, go_on = asyncio.Event(), asyncio.Event()
    slow = RecordingDelivery()
    prepare = slow.prepare

    async def slow_prepare(job):
        preparing.set()
        await go_on.wait()  # the store was out of reach: no renewal for a whole lease
        return await prepare(job)

    slow.prepare = slow_prepare
    stalled, _ = watcher_for(oxen_client, first, "stalled", delivery=slow)
    keeper = LeaseKeeper(first, holder("stalled"), held=stalled.held, on_lost=stalled.lease_lost)
    finishing = asyncio.create_task(stalled.finish(gid, GenerationStatus.SUCCEEDED, result_url=url))
    await preparing.wait()
    await asyncio.sleep(LEASE)
    other, posted = watcher_for(oxen_client, second, "other")
    await other.run_pass()  # the lease ran out: the other process resumes and posts
    assert [j.generation_id for j in posted.delivered] == [gid]
    assert await keeper.renew() == {gid}  # the renewal finds it gone...
    go_on.set()
    await finishing
    assert slow.delivered == []  # ...and the stalled process does not post it again


async def test_a_restarted_process_takes_its_earlier_runs_jobs_at_once(
    oxen, oxen_client, processes
):
    store = await processes()
    oxen.hold = True
    [gid] = await enqueue(oxen_client, store)
    await oxen.complete(gid)
    url = oxen.generations[gid]["result_url"]
    earlier = Holder("shards-1-of-3/host/41/before", 30.0)  # killed while posting
    await store.jobs.claim(gid, earlier.owner, earlier.seconds)
    await store.jobs.record_outcome(gid, "succeeded", result_url=url, error=None)
    other_process = Holder("shards-2-of-3/host/42/alive", 30.0)
    await store.intents.begin(
        guild_id=1, channel_id=2, requester_id=3, prompt="theirs", owner=other_process.owner,
        lease_seconds=30.0,
    )  # fmt: skip
    restarted = Holder.for_process("shards-1-of-3", 30.0)
    await LeaseKeeper(store, restarted).take_over_earlier_runs()
    watcher, delivery = watcher_for(oxen_client, store, "x", role="shards-1-of-3")
    await watcher.run_pass()
    assert [j.generation_id for j in delivery.delivered] == [gid]  # no 30 s wait
    await watcher.explain_interrupted_enqueues()
    assert delivery.explained == []  # another live process's prompt is not "interrupted"


def test_a_process_owner_names_its_role_host_and_run():
    a, b = Holder.for_process("shards-0-1-of-3", 30.0), Holder.for_process("shards-0-1-of-3")
    assert a.role == "shards-0-1-of-3" and a.earlier_runs == "shards-0-1-of-3/"
    assert a.owner != b.owner and a.owner.count("/") == 3


# --- admissions --------------------------------------------------------------------------------


def service_for(oxen_client, store, name, cap=0):
    delivery = RecordingDelivery()
    watcher, _ = watcher_for(oxen_client, store, name, delivery=delivery)
    enqueuer = Enqueuer(oxen_client, store, on_jobs_added=watcher.job_added)
    line = WaitingLine(
        store, enqueuer, Reporters(), tell=delivery.explain_not_started, cap=cap,
        holder=holder(name),
    )  # fmt: skip
    catalog = ModelCatalog(oxen_client, "black-forest-labs-flux-2-klein-4b")
    return ImagineService(
        store, catalog, enqueuer, line, watcher, reporter=Reporters(), holder=holder(name)
    )


def request(prompt: str, user: int = 7) -> ImagineRequest:
    return ImagineRequest(prompt=prompt, origin=Origin(guild_id=1, channel_id=2, requester_id=user))


async def test_two_processes_admitting_one_persons_requests_at_once_keep_their_quota(
    oxen, oxen_client, processes
):
    stores = [await processes() for _ in range(2)]
    await stores[0].servers.update(1, lambda s: GuildSettings(daily_quota=3, max_in_flight=8))
    oxen.hold = True
    services = [service_for(oxen_client, s, f"p{n}") for n, s in enumerate(stores)]

    async def submit(service, n):
        try:
            return await service.submit(request(f"at once {n}"))
        except UserFacingError:
            return None

    results = await asyncio.gather(*(submit(s, n) for n in range(4) for s in services))
    assert sum(r is not None for r in results) == 3  # the quota, across both processes
    assert len(oxen.generations) == 3


async def test_two_processes_at_the_bots_cap_never_exceed_it(oxen, oxen_client, processes):
    stores = [await processes() for _ in range(2)]
    oxen.hold = True
    services = [service_for(oxen_client, s, f"p{n}", cap=2) for n, s in enumerate(stores)]
    accepted = await asyncio.gather(
        *(s.submit(request(f"r{n}", user=n)) for n in range(5) for s in services)
    )
    sent = [a for a in accepted if a.place is None]
    assert len(sent) == 2 and len(oxen.generations) == 2  # the others wait in the line
    assert await stores[0].line.count() == 8
