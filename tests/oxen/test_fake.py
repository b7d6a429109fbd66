"""The fake itself: the switches other tests (and other engineers) rely on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.oxen import GenerationStatus, OxenClient
from tests.fakes.images import COLOURS, dominant_colour, make_png
from tests.fakes.oxen import FakeOxen


@pytest.fixture
async def http(oxen: FakeOxen) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(
        headers={"Authorization": f"Bearer {oxen.api_key}"}
    ) as session:
        yield session


async def test_hold_and_script(oxen: FakeOxen, client: OxenClient) -> None:
    oxen.hold = True
    ids = [
        q.generation_id for q in await client.enqueue("flux-1-dev", num_generations=3, prompt="p")
    ]
    await asyncio.sleep(oxen.start_delay + 0.05)
    assert all(oxen.generations[i]["status"] == "queued" for i in ids)
    oxen.set_processing(ids[0])
    gen = await client.get_generation(ids[0])
    assert gen.status is GenerationStatus.PROCESSING and gen.started_at is not None
    png = make_png((1, 2, 3))
    await oxen.complete(ids[0], png)
    assert await client.download(oxen.generations[ids[0]]["result_url"]) == png
    await oxen.fail(ids[1], "boom")
    assert (await client.get_generation(ids[1])).error_message == "boom"
    oxen.release(ids[2])
    await oxen.wait_for_status(ids[2], "succeeded")
    with pytest.raises(ValueError):
        await oxen.complete(ids[0])


async def test_outcomes(oxen: FakeOxen, client: OxenClient) -> None:
    oxen.outcome_for_prompt("slow", delay=0.5)
    oxen.outcome_for_prompt("stuck", stall=True)
    [slow] = await client.enqueue("flux-1-dev", prompt="slow one")
    [stuck] = await client.enqueue("flux-1-dev", prompt="stuck one")
    [fast] = await client.enqueue("flux-1-dev", prompt="fast one")
    await oxen.wait_for_status(fast.generation_id, "succeeded")
    assert oxen.generations[slow.generation_id]["status"] == "processing"
    await oxen.wait_for_status(slow.generation_id, "succeeded")
    assert oxen.generations[stuck.generation_id]["status"] == "processing"
    await client.cancel(stuck.generation_id)
    assert oxen.generations[stuck.generation_id]["status"] == "cancelled"


async def test_images_follow_prompt_and_differ(oxen: FakeOxen, client: OxenClient) -> None:
    oxen.hold = True
    a, b = await client.enqueue("flux-1-dev", num_generations=2, prompt="a red apple")
    await oxen.complete(a.generation_id)
    await oxen.complete(b.generation_id)
    da, db = oxen.result_bytes(a.generation_id), oxen.result_bytes(b.generation_id)
    assert da != db
    assert dominant_colour(da) == dominant_colour(db) == COLOURS["red"]


async def test_rows_echo_params_and_targets(oxen: FakeOxen, client: OxenClient) -> None:
    oxen.hold = True
    [q] = await client.enqueue(
        "flux-1-dev", prompt="p", seed=1, aspect_ratio="1:1", target_namespace="org"
    )
    row = oxen.generations[q.generation_id]
    assert row["seed"] == 1 and row["aspect_ratio"] == "1:1"
    assert row["target_namespace"] == "org" and row["target_repo"] is None
    assert isinstance(row["enqueued_at"], int)
    await oxen.complete(q.generation_id)
    assert "/api/repos/org/" in row["result_url"] and "sig=" in row["result_url"]


async def test_clock_offset(oxen: FakeOxen, client: OxenClient) -> None:
    oxen.clock_offset = -3600
    oxen.hold = True
    [q] = await client.enqueue("flux-1-dev", prompt="p")
    import time

    assert abs(oxen.generations[q.generation_id]["enqueued_at"] - (time.time() - 3600)) < 5


async def test_spec_mode_max_generations(oxen: FakeOxen, http: aiohttp.ClientSession) -> None:
    body = {"model": "flux-1-dev", "prompt": "p", "num_generations": 12}
    async with http.post(f"{oxen.base_url}/api/ai/queue", json=body) as resp:
        assert resp.status == 400
        data = await resp.json()
    assert data["error"]["detail"] == "num_generations must be an integer between 1 and 4"
    oxen.max_generations = 12
    oxen.hold = True
    async with http.post(f"{oxen.base_url}/api/ai/queue", json=body) as resp:
        assert resp.status == 200
        assert len((await resp.json())["generations"]) == 12


async def test_prompt_not_required_on_queue(oxen: FakeOxen, http: aiohttp.ClientSession) -> None:
    oxen.hold = True
    async with http.post(
        f"{oxen.base_url}/api/ai/queue", json={"model": "qwen-image-edit", "input_image": "u"}
    ) as resp:
        assert resp.status == 200


async def test_401_shape(oxen: FakeOxen) -> None:
    async with aiohttp.ClientSession() as s, s.get(f"{oxen.base_url}/api/ai/models") as resp:
        assert resp.status == 401
        data = await resp.json()
    assert data["status_message"] == "unauthenticated"
    assert data["error"]["type"] == "unauthenticated"
    assert not oxen.requests[-1].has_auth


async def test_retry_and_history(
    oxen: FakeOxen, http: aiohttp.ClientSession, client: OxenClient
) -> None:
    oxen.hold = True
    [q] = await client.enqueue("flux-1-dev", prompt="again")
    async with http.post(f"{oxen.base_url}/api/ai/queue/{q.generation_id}/retry") as resp:
        assert resp.status == 200
        new_id = (await resp.json())["generation_id"]
    assert oxen.generations[q.generation_id]["status"] == "cancelled"
    assert oxen.generations[new_id]["retried_from_id"] == q.generation_id
    assert oxen.generations[new_id]["prompt"] == "again"
    async with http.get(f"{oxen.base_url}/api/ai/generations", params={"page_size": "1"}) as resp:
        page = await resp.json()
    assert page["total_entries"] == 2 and page["count"] == 1 and page["total_pages"] == 2
    async with http.get(f"{oxen.base_url}/api/ai/generations/{new_id}") as resp:
        shown = await resp.json()
    assert shown["status_message"] == "resource_found"
    assert shown["generation"]["generation_id"] == new_id


async def test_models_list_omits_schema_unless_asked(oxen: FakeOxen, client: OxenClient) -> None:
    assert all(m.request_schema is None for m in await client.list_models())
    oxen.list_models_with_schema = True
    flux = [m for m in await client.list_models() if m.id == "flux-1-dev"]
    assert flux[0].request_schema is not None


async def test_stop_is_prompt_with_work_in_flight() -> None:
    oxen = await FakeOxen(keepalive_interval=30).start()
    oxen.outcome_for_prompt("stuck", stall=True)
    oxen.delay_next("GET", "/api/ai/models", 30)
    async with OxenClient(oxen.api_key, base_url=oxen.base_url) as c:
        await c.enqueue("flux-1-dev", num_generations=4, prompt="stuck")
        pending = asyncio.create_task(c.list_models())
        async with c.open_events():
            await oxen.wait_for_subscribers(1)
            loop = asyncio.get_running_loop()
            started = loop.time()
            await oxen.stop()
            assert loop.time() - started < 2
        await asyncio.wait_for(pending, 2)
