"""The watcher against the fake Oxen and a real store; delivery is a recorder at its seam."""

from __future__ import annotations

import asyncio

import pytest

from bot.delivery import DeliveryFailed
from bot.store import Job, JobStatus, NewJob, Order
from bot.watcher import Watcher


class RecordingDelivery:
    def __init__(self) -> None:
        self.delivered: list[Job] = []
        self.finished_status: list[int | None] = []
        self.broken: set[str] = set()  # generation ids whose delivery raises
        self.refused: set[str] = set()  # generation ids that nobody accepts
        self.explained: list = []
        self.refreshed: list[list[Job]] = []
        self.cancelled_by: list[tuple[str, int, int]] = []
        self.interrupted_status: list[int | None] = []

    async def deliver(self, job: Job) -> int | None:
        if job.generation_id in self.broken:
            raise RuntimeError("discord exploded")
        if job.generation_id in self.refused:
            raise DeliveryFailed("channel and DMs refused")
        self.delivered.append(job)
        return 1000 + len(self.delivered)

    # It is also the status reporter, recording what the status messages would show.
    async def refresh(self, pending) -> None:
        self.refreshed.append(list(pending))

    async def finish(self, job: Job) -> None:
        self.finished_status.append(job.status_message_id)

    async def cancelled(self, job: Job, by_user_id: int, count: int) -> None:
        self.cancelled_by.append((job.request_id, by_user_id, count))

    async def not_started(self, waiting, reason: str) -> None:
        return None

    async def interrupted(self, enqueue) -> None:
        self.interrupted_status.append(enqueue.status_message_id)

    async def find_existing(self, job: Job) -> int | None:
        for delivered in self.delivered:
            if delivered.generation_id == job.generation_id:
                return 1
        return None

    async def explain_interrupted(self, enqueue) -> None:
        self.explained.append(enqueue)


async def enqueue(oxen_client, store, prompt="a red cube", count=1, status_message_id=None):
    queued = await oxen_client.enqueue(
        "black-forest-labs-flux-2-klein-4b", num_generations=count, prompt=prompt
    )
    await store.add_jobs(
        NewJob(
            generation_id=g.generation_id,
            channel_id=10,
            requester_id=20,
            prompt=prompt,
            model="black-forest-labs-flux-2-klein-4b",
            batch_index=i,
            batch_size=count,
            status_message_id=status_message_id,
            request_id=queued[0].generation_id,
        )
        for i, g in enumerate(queued)
    )
    return [g.generation_id for g in queued]


@pytest.fixture
def delivery():
    return RecordingDelivery()


@pytest.fixture
def watcher(oxen_client, store, delivery):
    return Watcher(oxen_client, store, delivery, status=delivery, poll_interval=0.05)


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
    assert (await store.get(gid)).status is JobStatus.DELIVERED
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
    bad_job = await store.get(bad)
    assert bad_job.status is JobStatus.DELIVERING and bad_job.attempts == 1
    delivery.broken.clear()
    await watcher.run_pass()  # retried on the next pass
    assert [j.generation_id for j in delivery.delivered] == [good, bad]


async def test_undeliverable_job_is_marked_and_not_retried(oxen, oxen_client, store, delivery):
    watcher = Watcher(oxen_client, store, delivery, status=delivery)
    oxen.hold = True
    [gid] = await enqueue(oxen_client, store)
    delivery.refused.add(gid)
    await oxen.complete(gid)
    await watcher.run_pass()
    assert (await store.get(gid)).status is JobStatus.UNDELIVERABLE
    assert await watcher.run_pass() is False


async def test_polling_errors_do_not_stop_the_loop(oxen, oxen_client, store, delivery, watcher):
    [gid] = await enqueue(oxen_client, store)
    oxen.fail_next("GET", "/api/ai/queue", 500, times=50)
    watcher.start()
    try:
        await asyncio.sleep(0.3)
        assert watcher.running
        oxen.fail_next("GET", "/api/ai/queue", 500, times=0)
        for _ in range(100):
            if delivery.delivered:
                break
            await asyncio.sleep(0.05)
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
    await store.add_jobs(
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
        status=delivery,
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
    await store.begin_enqueue(guild_id=1, channel_id=10, requester_id=20, prompt="lost prompt")
    await watcher.explain_interrupted_enqueues()
    await watcher.explain_interrupted_enqueues()
    assert [e.prompt for e in delivery.explained] == ["lost prompt"]
    assert delivery.interrupted_status == [None]  # /imagine posts its status message afterwards


async def test_a_request_cut_off_leaving_the_line_finishes_its_status_message(
    store, delivery, watcher
):
    waiting = await store.add_waiting(
        Order(guild_id=1, channel_id=10, requester_id=20, prompt="cut off", model="m", params={})
    )
    await store.set_status_message(waiting.request_id, 4321)
    [front] = await store.waiting_line(limit=1)
    await store.take_waiting(front)  # ...and the bot died before Oxen answered
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
    await store.record_outcome(gid, "succeeded", result_url="http://x", error=None)
    await watcher.run_pass()
    assert len(delivery.delivered) == 1
    assert (await store.get(gid)).status is JobStatus.DELIVERED


async def test_new_jobs_do_not_trigger_a_poll_while_events_flow(oxen_client, store, delivery):
    watcher = Watcher(oxen_client, store, delivery, status=delivery)
    watcher.push_healthy = True
    watcher.job_added()
    assert not watcher._wakeup.is_set()  # the safety-net tick is soon enough
    watcher.push_healthy = False
    watcher.job_added()
    assert watcher._wakeup.is_set()  # polling is all we have: look now


async def test_a_stale_copy_of_a_delivered_job_is_not_delivered_again(
    oxen, oxen_client, store, delivery, watcher
):
    oxen.hold = True
    [gid] = await enqueue(oxen_client, store)
    await store.record_outcome(gid, "succeeded", result_url="http://x", error=None)
    stale = await store.get(gid)  # what a pass read before a push source delivered it
    await store.mark_delivered(gid, 5)
    await watcher._deliver(stale)
    assert delivery.delivered == []


async def test_cancel_of_a_generation_oxen_already_finished_delivers_it(
    oxen, oxen_client, store, delivery, watcher
):
    oxen.hold = True
    [gid] = await enqueue(oxen_client, store)
    await oxen.complete(gid)  # finished at Oxen; the watcher has not looked yet
    assert await watcher.cancel(gid, "cancelled by <@1>") is False
    assert [j.generation_id for j in delivery.delivered] == [gid]  # paid for, so posted
    job = await store.get(gid)
    assert job is not None and job.outcome == "succeeded"


async def test_cancel_of_a_running_generation_cancels_it_at_oxen(
    oxen, oxen_client, store, delivery, watcher
):
    oxen.hold = True
    [gid] = await enqueue(oxen_client, store, status_message_id=55)
    assert await watcher.cancel(gid, "cancelled by <@1>") is True
    assert oxen.generations[gid]["status"] == "cancelled"
    job = await store.get(gid)
    assert job is not None and job.status.value == "delivered" and job.outcome == "cancelled"
    assert job.result_message_id == 55  # the status message tells it; nothing else is posted
    assert delivery.delivered == []
    assert await watcher.cancel(gid, "again") is False  # a second press changes nothing
