"""The completion event stream feeding the watcher, against the fake Oxen's real SSE endpoint."""

from __future__ import annotations

import asyncio

import pytest

from bot.core.completions import CompletionListener
from bot.core.watcher import Watcher
from tests.fakes.recorders import RecordingDelivery, enqueue
from tests.waiting import wait_until


async def no_sleep(_seconds: float) -> None:
    await asyncio.sleep(0)


@pytest.fixture
def delivery():
    return RecordingDelivery()


@pytest.fixture
async def listening(oxen, oxen_client, store, delivery):
    # A long poll interval: anything delivered quickly here came through the event stream.
    watcher = Watcher(oxen_client, store, delivery, reporter=delivery, poll_interval=60)
    listener = CompletionListener(oxen_client, watcher, sleep=no_sleep)
    listener.start()
    await oxen.wait_for_subscribers(1)
    await wait_until(lambda: listener.connected)
    yield watcher, listener
    await listener.stop()
    await watcher.stop()


async def test_an_event_finishes_the_job_at_once_without_polling(
    oxen, oxen_client, store, delivery, listening
):
    watcher, _ = listening
    oxen.hold = True
    [gid] = await enqueue(oxen_client, store)
    polls_before = oxen.count("GET", "/api/ai/queue")
    await oxen.complete(gid)
    await wait_until(lambda: delivery.delivered)
    [job] = delivery.delivered
    assert job.generation_id == gid and job.result_url
    assert oxen.count("GET", "/api/ai/queue") == polls_before  # no poll was needed
    assert watcher.push_healthy


async def test_failure_events_carry_the_error(oxen, oxen_client, store, delivery, listening):
    oxen.hold = True
    [gid] = await enqueue(oxen_client, store)
    await oxen.fail(gid, "The model refused")
    await wait_until(lambda: delivery.delivered)
    assert delivery.delivered[0].error == "The model refused"


async def test_events_for_unknown_generations_and_other_types_are_ignored(
    oxen, oxen_client, store, delivery, listening
):
    await oxen.emit_event(
        "media_generation_completed",
        {"generation_id": "someone-elses", "status": "succeeded", "url": "http://x"},
    )
    await oxen.emit_raw("event: deployment_updated\ndata: {}\n\n")
    oxen.hold = True
    [gid] = await enqueue(oxen_client, store)
    await oxen.complete(gid)
    await wait_until(lambda: delivery.delivered)
    assert [j.generation_id for j in delivery.delivered] == [gid]


async def test_reconnect_reconciles_what_finished_while_disconnected(
    oxen, oxen_client, store, delivery, listening
):
    watcher, listener = listening
    watcher.start()
    oxen.hold = True
    [gid] = await enqueue(oxen_client, store)
    oxen.events_enabled = False
    oxen.drop_event_streams()
    await wait_until(lambda: not listener.connected)
    assert not watcher.push_healthy
    await oxen.complete(gid)  # nobody is listening: this event is lost
    assert delivery.delivered == []
    oxen.events_enabled = True
    await wait_until(lambda: delivery.delivered, timeout=10)
    assert listener.connects >= 2
    assert delivery.delivered[0].generation_id == gid


async def test_poll_interval_adapts_to_event_health_and_job_age(oxen, oxen_client, store, delivery):
    now = [1000.0]
    watcher = Watcher(
        oxen_client, store, delivery, reporter=delivery, poll_interval=2.0, clock=lambda: now[0]
    )
    oxen.hold = True
    await enqueue(oxen_client, store)
    [job] = await store.jobs.open()
    now[0] = job.created_at + 5  # a young job
    await watcher.run_pass()
    assert watcher.next_interval() == 2.0
    now[0] += 100  # only old jobs
    assert watcher.next_interval() == 5.0
    watcher.push_changed(True)  # events flow: completions come by push...
    assert watcher.next_interval() == 3.0  # ...but "being made" needs a look every few seconds
    oxen.set_processing(job.generation_id)
    await watcher.run_pass()
    assert watcher.next_interval() == 10.0  # every job started: only the slow safety net
