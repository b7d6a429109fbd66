"""The waiting line against the fake Oxen and a real store: order, the cap, Oxen being busy or
refusing, and no request sent twice."""

from __future__ import annotations

import asyncio

import pytest

from bot.core.enqueue import Enqueuer
from bot.core.errors import OXEN_UNKNOWN_OUTCOME
from bot.core.types import Order, Waiting
from bot.core.waiting_line import WaitingLine
from bot.core.watcher import Watcher
from bot.oxen import OxenClient
from tests.fakes.recorders import RecordingDelivery


class Reports:
    """The line's reporter and ``tell``: records what requesters and status messages hear."""

    def __init__(self) -> None:
        self.never_started: list[tuple[int, str]] = []
        self.told: list[tuple[int, str]] = []

    async def refresh(self, pending) -> None:
        return None

    async def finish(self, job) -> None:
        return None

    async def cancelled(self, request, by_user_id, count) -> None:
        return None

    async def not_started(self, waiting: Waiting, reason: str) -> None:
        self.never_started.append((waiting.id, reason))

    async def interrupted(self, enqueue) -> None:
        return None

    async def tell(self, waiting: Waiting, reason: str) -> None:
        self.told.append((waiting.requester_id, reason))


def make_line(oxen_client, store, reports=None, cap=2):
    reports = reports or Reports()
    delivery = RecordingDelivery()
    watcher = Watcher(oxen_client, store, delivery, reporter=delivery, poll_interval=0.05)
    enqueuer = Enqueuer(oxen_client, store, on_jobs_added=watcher.job_added)
    return WaitingLine(store, enqueuer, reports, tell=reports.tell, cap=cap)


@pytest.fixture
def line(oxen_client, store):
    return make_line(oxen_client, store)


def order(prompt, count=1, requester_id=7):
    return Order(
        guild_id=1, channel_id=2, requester_id=requester_id, prompt=prompt, model="flux-1-dev",
        params={"prompt": prompt}, count=count,
    )  # fmt: skip


async def test_only_what_fits_under_the_cap_goes_and_in_order(oxen, store, line):
    oxen.hold = True
    for prompt in ("a", "b", "c"):
        await store.line.add(order(prompt))
    assert await line.send_what_fits() is False
    assert [g["prompt"] for g in oxen.generations.values()] == ["a", "b"]
    assert [w.prompt for w in await store.line.in_order()] == ["c"]

    [first, _] = list(oxen.generations)
    await oxen.complete(first)
    await store.jobs.record_outcome(first, "succeeded", result_url=None, error=None)
    await line.send_what_fits()
    assert [g["prompt"] for g in oxen.generations.values()] == ["a", "b", "c"]
    jobs = await store.jobs.of_request((await store.jobs.get(list(oxen.generations)[2])).request_id)
    assert jobs[0].request_id.startswith("line-")  # the status message's Cancel still matches


async def test_a_batch_larger_than_the_cap_goes_when_nothing_else_is_in_flight(oxen, store, line):
    oxen.hold = True
    await store.line.add(order("four", count=4))
    await line.send_what_fits()
    assert len(oxen.generations) == 4


async def test_new_requests_do_not_overtake_the_line(store, line):
    await store.line.add(order("was first"))
    assert await line.admit(1) is False  # room at Oxen, but someone is waiting
    assert await line.admit(1, first_in_line=True) is True


async def test_racing_admissions_see_each_other(line):
    results = await asyncio.gather(*(line.admit(1) for _ in range(5)))
    assert sum(results) == 2  # the cap, although none was stored yet


async def test_oxen_busy_keeps_the_place_and_is_tried_again(oxen, store, line):
    oxen.hold = True
    await store.line.add(order("first"))
    await store.line.add(order("second"))
    oxen.fail_next("POST", "/api/ai/queue", 503, times=10)
    assert await line.send_what_fits() is True  # busy: try again later
    assert [w.prompt for w in await store.line.in_order()] == ["first", "second"]
    assert await store.intents.interrupted() == []
    oxen.clear_faults()
    assert await line.send_what_fits() is False
    assert [g["prompt"] for g in oxen.generations.values()] == ["first", "second"]


async def test_a_timeout_is_not_sent_again_and_the_requester_is_told(oxen, store):
    oxen.hold = True
    reports = Reports()
    waiting = await store.line.add(order("slow"))
    oxen.delay_next("POST", "/api/ai/queue", 5)
    async with OxenClient(oxen.api_key, base_url=oxen.base_url, timeout=0.3) as impatient:
        await make_line(impatient, store, reports).send_what_fits()
    assert await store.line.in_order() == [] and await store.intents.interrupted() == []
    assert reports.told == [(7, OXEN_UNKNOWN_OUTCOME)]
    assert reports.never_started == [(waiting.id, OXEN_UNKNOWN_OUTCOME)]
    assert oxen.count("POST", "/api/ai/queue") == 1  # it may have been taken: never resent
