"""The watcher against the fake Oxen and a real store; delivery is a recorder at its seam."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.core import fair_use
from bot.core.types import JobStatus, NewJob, Order
from bot.core.watcher import Watcher
from bot.store.sqlite import SqliteStore
from tests.fakes.recorders import RecordingDelivery, enqueue
from tests.waiting import wait_until


@pytest.fixture
def delivery():
    return RecordingDelivery()


@pytest.fixture
def watcher(oxen_client, store, delivery):
    return Watcher(oxen_client, store, delivery, reporter=delivery, poll_interval=0.05)


async def test_succeeded_generation_is_delivered_once(oxen, oxen_client, store, delivery, watcher):
    oxen.hold = True
    [gid] = await enqueue(oxen_client, store)
    assert await watcher.run_pass() is True
    assert delivery.delivered == []
    await oxen.complete(gid)
    await watcher.run_pass()
    await watcher.run_pass()
    assert [j.generation_id for j in delivery.delivered] == [gid]
    job = delivery.delivered[0]
    assert job.outcome == "succeeded" and job.result_url
    assert (await store.jobs.get(gid)).status is JobStatus.DELIVERED
    assert await watcher.run_pass() is False  # nothing open any more


async def test_failed_generation_carries_oxens_message(oxen, oxen_client, store, delivery, watcher):
    oxen.hold = True
    [gid] = await enqueue(oxen_client, store)
    await oxen.fail(gid, "Insufficient credits")
    await watcher.run_pass()
    [job] = delivery.delivered
    assert (job.outcome, job.error) == ("failed", "Insufficient credits")


async def test_cancelled_generation_is_reported(oxen, oxen_client, store, delivery, watcher):
    oxen.hold = True
    [gid] = await enqueue(oxen_client, store)
    await oxen_client.cancel(gid)
    await watcher.run_pass()
    [job] = delivery.delivered
    assert job.outcome == "cancelled"


async def test_one_pass_lists_once_and_fetches_only_jobs_that_left_the_list(
    oxen, oxen_client, store, delivery, watcher
):
    oxen.hold = True
    ids = await enqueue(oxen_client, store, count=4)
    await oxen.complete(ids[0])
    before = len(oxen.requests)
    await watcher.run_pass()
    made = [
        (r.method, r.path) for r in oxen.requests[before:] if not r.path.startswith("/api/repos")
    ]
    assert made == [("GET", "/api/ai/queue"), ("GET", f"/api/ai/queue/{ids[0]}")]


async def test_one_bad_job_does_not_stop_the_others(oxen, oxen_client, store, delivery, watcher):
    oxen.hold = True
    bad, good = await enqueue(oxen_client, store, count=2)
    delivery.broken.add(bad)
    await oxen.complete(bad)
    await oxen.complete(good)
    await watcher.run_pass()
    assert [j.generation_id for j in delivery.delivered] == [good]
    bad_job = await store.jobs.get(bad)
    assert bad_job.status is JobStatus.DELIVERING and bad_job.attempts == 1
    delivery.broken.clear()
    await watcher.run_pass()  # retried on the next pass
    assert [j.generation_id for j in delivery.delivered] == [good, bad]


async def test_undeliverable_job_is_marked_and_not_retried(oxen, oxen_client, store, delivery):
    watcher = Watcher(oxen_client, store, delivery, reporter=delivery)
    oxen.hold = True
    [gid] = await enqueue(oxen_client, store)
    delivery.refused.add(gid)
    await oxen.complete(gid)
    await watcher.run_pass()
    assert (await store.jobs.get(gid)).status is JobStatus.UNDELIVERABLE
    assert await watcher.run_pass() is False


async def test_polling_errors_do_not_stop_the_loop(oxen, oxen_client, store, delivery, watcher):
    [gid] = await enqueue(oxen_client, store)
    oxen.fail_next("GET", "/api/ai/queue", 500, times=50)
    watcher.start()
    try:
        await wait_until(lambda: oxen.count("GET", "/api/ai/queue") >= 3)  # failing passes
        assert watcher.running
        oxen.fail_next("GET", "/api/ai/queue", 500, times=0)
        await wait_until(lambda: delivery.delivered, timeout=5)
        assert [j.generation_id for j in delivery.delivered] == [gid]
    finally:
        await watcher.stop()
    assert not watcher.running


async def test_status_message_is_finished_when_the_whole_batch_is_done(
    oxen, oxen_client, store, delivery, watcher
):
    oxen.hold = True
    first, second = await enqueue(oxen_client, store, count=2, status_message_id=77)
    await oxen.complete(second)
    await watcher.run_pass()
    assert delivery.finished_status == []
    await oxen.complete(first)
    await watcher.run_pass()
    assert delivery.finished_status == [77]


async def test_unknown_generation_is_reported_to_the_requester(
    oxen_client, store, delivery, watcher
):
    await store.jobs.add(
        [
            NewJob(
                generation_id="00000000-0000-4000-8000-000000000000",
                channel_id=1,
                requester_id=2,
                prompt="p",
                model="m",
            )
        ]
    )
    await watcher.run_pass()
    [job] = delivery.delivered
    assert job.outcome == "failed" and "no longer knows" in (job.error or "")


async def test_stalled_generation_is_cancelled_at_oxen(oxen, oxen_client, store, delivery):
    clock = [0.0]
    watcher = Watcher(
        oxen_client,
        store,
        delivery,
        reporter=delivery,
        max_generation_age=120,
        clock=lambda: clock[0],
    )
    oxen.hold = True
    [gid] = await enqueue(oxen_client, store)
    clock[0] = 10_000_000_000.0
    await watcher.run_pass()
    assert oxen.generations[gid]["status"] == "cancelled"
    [job] = delivery.delivered
    assert job.outcome == "cancelled" and "2 minutes," in (job.error or "")


async def test_finish_from_a_push_source_is_idempotent(oxen, oxen_client, store, delivery, watcher):
    from bot.oxen import GenerationStatus

    oxen.hold = True
    [gid] = await enqueue(oxen_client, store)
    url = "http://127.0.0.1:1/x.png"
    results = await asyncio.gather(
        watcher.finish(gid, GenerationStatus.SUCCEEDED, result_url=url),
        watcher.finish(gid, GenerationStatus.SUCCEEDED, result_url=url),
    )
    assert sorted(results) == [False, True]
    assert len(delivery.delivered) == 1
    assert await watcher.finish("not-ours", GenerationStatus.SUCCEEDED) is False


async def test_interrupted_enqueues_are_explained_once(oxen_client, store, delivery, watcher):
    await store.intents.begin(guild_id=1, channel_id=10, requester_id=20, prompt="lost prompt")
    await watcher.explain_interrupted_enqueues()
    await watcher.explain_interrupted_enqueues()
    assert [e.prompt for e in delivery.explained] == ["lost prompt"]
    assert delivery.interrupted_status == [None]  # /imagine posts its status message afterwards


async def test_a_request_cut_off_leaving_the_line_finishes_its_status_message(
    store, delivery, watcher
):
    waiting = await store.line.add(
        Order(guild_id=1, channel_id=10, requester_id=20, prompt="cut off", model="m", params={})
    )
    await store.jobs.attach_status_message(waiting.request_id, 4321)
    [front] = await store.line.in_order(limit=1)
    await store.line.take(front)  # ...and the bot died before Oxen answered
    await watcher.explain_interrupted_enqueues()
    assert [e.request_id for e in delivery.explained] == [waiting.request_id]
    assert delivery.interrupted_status == [4321]


async def test_resumed_delivery_that_already_posted_is_not_posted_again(
    oxen, oxen_client, store, delivery, watcher
):
    oxen.hold = True
    [gid] = await enqueue(oxen_client, store)
    await oxen.complete(gid)
    await watcher.run_pass()
    assert len(delivery.delivered) == 1
    # The process died after posting and before recording: the job is back to "delivering".
    await store.jobs.record_outcome(gid, "succeeded", result_url="http://x", error=None)
    await watcher.run_pass()
    assert len(delivery.delivered) == 1
    assert (await store.jobs.get(gid)).status is JobStatus.DELIVERED


async def test_new_jobs_trigger_a_poll_only_while_events_are_down(
    oxen, oxen_client, store, delivery
):
    watcher = Watcher(oxen_client, store, delivery, reporter=delivery, poll_interval=2.0)
    oxen.hold = True
    await enqueue(oxen_client, store)
    watcher.push_changed(True)
    watcher.start()
    try:
        await wait_until(lambda: oxen.count("GET", "/api/ai/queue") == 1)  # the first pass
        await enqueue(oxen_client, store)
        watcher.job_added()
        await asyncio.sleep(0.8)  # a wake would poll within the 0.5 s pass gap
        assert oxen.count("GET", "/api/ai/queue") == 1  # the safety-net tick is soon enough
        watcher.push_changed(False)  # polling is all we have now: look at once
        await wait_until(lambda: oxen.count("GET", "/api/ai/queue") == 2, timeout=1.5)
    finally:
        await watcher.stop()


async def test_a_stale_copy_of_a_delivered_job_is_not_delivered_again(
    oxen, oxen_client, store, delivery, watcher
):
    oxen.hold = True
    [gid] = await enqueue(oxen_client, store)
    await store.jobs.record_outcome(gid, "succeeded", result_url="http://x", error=None)
    stale = await store.jobs.get(gid)  # what a pass read before a push source delivered it
    await store.jobs.mark_delivered(gid, 5)
    await watcher.resume(stale)
    assert delivery.delivered == []


async def test_cancel_of_a_generation_oxen_already_finished_delivers_it(
    oxen, oxen_client, store, delivery, watcher
):
    oxen.hold = True
    [gid] = await enqueue(oxen_client, store)
    await oxen.complete(gid)  # finished at Oxen; the watcher has not looked yet
    assert await watcher.cancel(gid, "cancelled by <@1>") is False
    assert [j.generation_id for j in delivery.delivered] == [gid]  # paid for, so posted
    job = await store.jobs.get(gid)
    assert job is not None and job.outcome == "succeeded"


async def test_cancel_of_a_running_generation_cancels_it_at_oxen(
    oxen, oxen_client, store, delivery, watcher
):
    oxen.hold = True
    [gid] = await enqueue(oxen_client, store, status_message_id=55)
    assert await watcher.cancel(gid, "cancelled by <@1>") is True
    assert oxen.generations[gid]["status"] == "cancelled"
    job = await store.jobs.get(gid)
    assert job is not None and job.status.value == "delivered" and job.outcome == "cancelled"
    assert job.result_message_id == 55  # the status message tells it; nothing else is posted
    assert delivery.delivered == []
    assert await watcher.cancel(gid, "again") is False  # a second press changes nothing


async def test_finished_jobs_past_the_retention_are_pruned_and_quotas_stay_right(
    oxen_client, tmp_path, delivery
):
    day = 86_400.0
    now = [time.time() - 100 * day]
    store = await SqliteStore.open(tmp_path / "jobs.sqlite3", clock=lambda: now[0])
    watcher = Watcher(oxen_client, store, delivery, reporter=delivery, retention_days=90)
    try:
        old = NewJob(generation_id="old", channel_id=1, requester_id=2, prompt="p", model="m")
        await store.jobs.add([old])
        await store.jobs.mark_delivered("old", 1)  # finished 100 days ago
        now[0] = time.time()
        recent = NewJob(generation_id="new", channel_id=1, requester_id=2, prompt="p", model="m")
        await store.jobs.add([recent])
        await store.jobs.mark_delivered("new", 2)
        watcher.start()

        async def pruned() -> bool:
            return await store.jobs.get("old") is None

        await wait_until(pruned)
        assert await store.jobs.get("new") is not None
        usage = await store.jobs.usage(None, 2, since=fair_use.day_start(now[0]))
        assert usage.images_today == 1  # today's image still counts
    finally:
        await watcher.stop()
        await store.close()
