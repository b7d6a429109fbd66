"""A long generation list (parsed in a worker thread, off the event loop) reads the same."""

from __future__ import annotations

from bot.oxen import GenerationStatus, OxenClient
from tests.fakes.oxen import FakeOxen


async def test_a_long_list_is_parsed_like_a_short_one(oxen: FakeOxen, client: OxenClient) -> None:
    oxen.hold = True
    ids = set()
    for _ in range(30):
        ids |= {
            g.generation_id
            for g in await client.enqueue("flux-1-dev", num_generations=4, prompt="x")
        }
    listed = await client.list_generations()
    assert len(listed) == 120 and {g.generation_id for g in listed} == ids
    assert all(g.status is GenerationStatus.QUEUED for g in listed)
