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

    async def line_moved(self, places) -> None:
        self.places = list(places)

    async def refused(self, request, rule) -> None:
        return None


def make_line(oxen_client, store, reports=None, cap=2):
    reports = reports or Reports()
    delivery = RecordingDelivery()
    watcher = Watcher(oxen_client, store, delivery, reporter=delivery, poll_interval=0.05)
    enqueuer = Enqueuer(oxen_client, store, on_jobs_added=watcher.job_added)
    return WaitingLine(store, enqueuer, reports, tell=reports.tell, cap=cap)


@pytest.fixture
def line(oxen_client, store):
    return make_line(oxen_client, store)


def order(prompt, count=1, requester_id=7, guild_id=1):
    return Order(
        guild_id=guild_id, channel_id=2, requester_id=requester_id, prompt=prompt,
        model="flux-1-dev", params={"prompt": prompt}, count=count,
    )  # fmt: skip


async def finish(oxen, store, generation_id):
    """Oxen finished it and the watcher recorded it: it no longer counts as at Oxen."""
    await oxen.complete(generation_id)
    await store.jobs.record_outcome(generation_id, "succeeded", result_url=None, error=None)


def prompts(oxen):
    return [g["prompt"] for g in oxen.generations.values()]


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


async def test_new_requests_do_not_take_the_room_someone_is_waiting_for(oxen, oxen_client, store):
    oxen.hold = True
    line = make_line(oxen_client, store, cap=1)
    await store.line.add(order("at oxen"))
    await line.send_what_fits()
    await store.line.add(order("waits for room", requester_id=8))
    await line.send_what_fits()  # no room: it waits for its turn
    await finish(oxen, store, next(iter(oxen.generations)))  # room frees...
    assert await line.admit(order("newcomer", requester_id=9)) is False  # ...but it is taken
    await line.send_what_fits()
    assert prompts(oxen) == ["at oxen", "waits for room"]


async def test_racing_admissions_see_each_other(line):
    results = await asyncio.gather(*(line.admit(order(f"r{i}", requester_id=i)) for i in range(5)))
    assert sum(results) == 2  # the cap, although none was stored yet


async def test_at_the_cap_a_person_who_asks_once_goes_before_a_heavy_users_next(
    oxen, oxen_client, store
):
    oxen.hold = True
    line = make_line(oxen_client, store, cap=2)
    for i in range(10):
        await store.line.add(order(f"a{i}", requester_id=1))
    await line.send_what_fits()  # a0 and a1 fill the cap
    await store.line.add(order("b0", requester_id=2))
    await finish(oxen, store, next(iter(oxen.generations)))
    await line.send_what_fits()
    assert prompts(oxen) == ["a0", "a1", "b0"]


async def test_at_the_cap_servers_take_turns(oxen, oxen_client, store):
    oxen.hold = True
    line = make_line(oxen_client, store, cap=2)
    for i in range(5):
        await store.line.add(order(f"x{i}", requester_id=i, guild_id=1))  # busy server
    await line.send_what_fits()
    await store.line.add(order("y0", requester_id=1, guild_id=2))
    await finish(oxen, store, next(iter(oxen.generations)))
    await line.send_what_fits()
    assert prompts(oxen) == ["x0", "x1", "y0"]


async def test_a_persons_extra_request_waits_for_one_of_theirs(oxen, oxen_client, store):
    oxen.hold = True
    line = make_line(oxen_client, store, cap=0)  # no bot-wide cap: only the person's own limit
    await store.line.add(order("mine 1", count=2), owner_limit=2)
    await store.line.add(order("mine 2"), owner_limit=2)
    await store.line.add(order("someone else's", requester_id=8), owner_limit=2)
    await line.send_what_fits()
    assert prompts(oxen) == ["mine 1", "mine 1", "someone else's"]
    [waiting] = await line.places()
    assert (waiting.waiting.prompt, waiting.waits_for_own, waiting.own_place) == ("mine 2", True, 1)
    assert waiting.owner_in_flight == 2
    await finish(oxen, store, next(iter(oxen.generations)))
    await line.send_what_fits()
    assert prompts(oxen)[-1] == "mine 2"


async def test_a_request_larger_than_the_limit_runs_alone(oxen, oxen_client, store):
    oxen.hold = True
    line = make_line(oxen_client, store, cap=0)
    await store.line.add(order("four", count=4), owner_limit=2)
    await line.send_what_fits()
    assert len(oxen.generations) == 4


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
