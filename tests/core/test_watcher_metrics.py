"""What the watcher tells the metrics: outcomes, durations, the jobs it follows, and its death."""

from __future__ import annotations

import asyncio

import pytest

from bot.core.metrics import Metrics
from bot.core.types import NewJob
from bot.core.watcher import Watcher
from tests.core.test_metrics import value
from tests.fakes.recorders import RecordingDelivery, enqueue
from tests.waiting import wait_until


@pytest.fixture
def delivery():
    return RecordingDelivery()


@pytest.fixture
def metrics():
    return Metrics(process=False)


@pytest.fixture
def watcher(oxen_client, store, delivery, metrics):
    watcher = Watcher(
        oxen_client, store, delivery, reporter=delivery, poll_interval=0.05, metrics=metrics
    )
    metrics.read_now_from(
        jobs_by_state=watcher.open_jobs.by_state,
        oldest_pending_age=watcher.open_jobs.oldest_pending_age,
    )
    return watcher


async def test_a_delivered_image_counts_once_with_both_durations(
    oxen, oxen_client, store, watcher, metrics
):
    oxen.hold = True
    [gid] = await enqueue(oxen_client, store)
    await watcher.run_pass()
    assert value(metrics, "imagine_jobs", state="queued", scope="queue") == 1
    assert value(metrics, "imagine_oldest_pending_age_seconds", scope="queue") >= 0
    await oxen.complete(gid)
    await watcher.run_pass()
    assert value(metrics, "imagine_generations_total", outcome="succeeded") == 1
    assert value(metrics, "imagine_request_seconds_count") == 1
    assert value(metrics, "imagine_delivery_seconds_count") == 1
    assert value(metrics, "imagine_jobs", state="queued", scope="queue") == 0
    await watcher.run_pass()  # nothing counted twice
    assert value(metrics, "imagine_generations_total", outcome="succeeded") == 1


async def test_failures_and_undeliverable_jobs_are_counted_without_image_durations(
    oxen, oxen_client, store, delivery, watcher, metrics
):
    oxen.hold = True
    failed, lost = await enqueue(oxen_client, store, count=2)
    delivery.refused.add(lost)
    await oxen.fail(failed, "nope")
    await oxen.complete(lost)
    await watcher.run_pass()
    assert value(metrics, "imagine_generations_total", outcome="failed") == 1
    assert value(metrics, "imagine_generations_total", outcome="undeliverable") == 1
    assert value(metrics, "imagine_request_seconds_count") == 0


async def test_a_cancel_is_counted(oxen, oxen_client, store, watcher, metrics):
    oxen.hold = True
    [gid] = await enqueue(oxen_client, store)
    assert await watcher.cancel(gid, "cancelled by <@1>")
    assert value(metrics, "imagine_generations_total", outcome="cancelled") == 1


async def test_failed_attempts_are_counted(oxen, oxen_client, store, delivery, watcher, metrics):
    oxen.hold = True
    [gid] = await enqueue(oxen_client, store)
    delivery.broken.add(gid)
    await oxen.complete(gid)
    await watcher.run_pass()
    assert value(metrics, "imagine_job_attempt_failures_total") == 1
    assert value(metrics, "imagine_jobs", state="delivering", scope="queue") == 1


async def test_new_jobs_are_counted_and_followed_before_the_next_pass(watcher, metrics):
    watcher.job_added(
        [NewJob(generation_id=g, channel_id=1, requester_id=2, prompt="p", model="m") for g in "ab"]
    )
    assert value(metrics, "imagine_generations_enqueued_total") == 2
    assert value(metrics, "imagine_jobs", state="queued", scope="queue") == 2


async def test_died_only_when_the_loop_ended_without_stop(watcher):
    assert not watcher.died  # not started yet: e.g. while the bot logs in
    watcher.start()
    await wait_until(lambda: watcher.running)
    assert not watcher.died
    [task] = [t for t in asyncio.all_tasks() if t.get_name() == "imagine-watcher"]
    task.cancel()
    await wait_until(lambda: task.done())
    assert watcher.died


async def test_a_clean_stop_is_not_a_death(watcher):
    watcher.start()
    await watcher.stop()
    assert not watcher.running and not watcher.died
