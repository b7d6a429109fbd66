from __future__ import annotations

import pytest

from bot.oxen import (
    BadRequest,
    GenerationStatus,
    InsufficientCredits,
    NotFound,
    OxenClient,
)
from tests.fakes.oxen import FakeOxen


async def test_enqueue_returns_ids_and_passes_params(oxen: FakeOxen, client: OxenClient) -> None:
    queued = await client.enqueue(
        "flux-1-dev", num_generations=2, prompt="a red fox", aspect_ratio="1:1", seed=7
    )
    assert len(queued) == 2
    assert len({q.generation_id for q in queued}) == 2
    assert all(q.status is GenerationStatus.QUEUED for q in queued)
    body = oxen.requests_to("POST", "/api/ai/queue")[-1].json
    assert body == {
        "model": "flux-1-dev",
        "num_generations": 2,
        "prompt": "a red fox",
        "aspect_ratio": "1:1",
        "seed": 7,
    }


async def test_enqueue_historical_processing_status(oxen: FakeOxen, client: OxenClient) -> None:
    oxen.enqueue_status = "processing"
    [queued] = await client.enqueue("flux-1-dev", prompt="x")
    assert queued.status is GenerationStatus.PROCESSING


@pytest.mark.parametrize("n", [0, 5, -1, True, 2.0, "2"])
async def test_num_generations_out_of_range(oxen: FakeOxen, client: OxenClient, n: object) -> None:
    with pytest.raises(ValueError, match="between 1 and 4"):
        await client.enqueue("flux-1-dev", num_generations=n, prompt="x")  # type: ignore[arg-type]
    assert oxen.count("POST", "/api/ai/queue") == 0


async def test_text_only_model_rejected(oxen: FakeOxen, client: OxenClient) -> None:
    with pytest.raises(BadRequest, match="unsupported_media_type") as info:
        await client.enqueue("gpt-4o-mini", prompt="hello")
    assert info.value.status == 400
    assert not oxen.generations


async def test_empty_200_with_error_is_bad_request(oxen: FakeOxen, client: OxenClient) -> None:
    oxen.unsupported_media_type_style = "empty_200"
    with pytest.raises(BadRequest, match="unsupported_media_type") as info:
        await client.enqueue("gpt-4o-mini", prompt="hello")
    assert info.value.status == 200


async def test_unknown_model(client: OxenClient) -> None:
    with pytest.raises(NotFound) as info:
        await client.enqueue("nope", prompt="x")
    assert info.value.message == "Model not found: nope"


async def test_insufficient_credits_at_enqueue(oxen: FakeOxen, client: OxenClient) -> None:
    oxen.insufficient_credits = True
    with pytest.raises(InsufficientCredits, match="Insufficient credits"):
        await client.enqueue("flux-1-dev", prompt="x")


async def test_generation_lifecycle_by_polling(oxen: FakeOxen, client: OxenClient) -> None:
    [queued] = await client.enqueue("flux-1-dev", prompt="a red fox", aspect_ratio="1:1")
    first = await client.get_generation(queued.generation_id)
    assert first.status in (GenerationStatus.QUEUED, GenerationStatus.PROCESSING)
    assert first.model_name == "flux-1-dev"
    assert first.prompt == "a red fox"
    assert first.params["aspect_ratio"] == "1:1"
    assert first.result_url is None and first.completed_at is None
    await oxen.wait_for_status(queued.generation_id, "succeeded")
    done = await client.get_generation(queued.generation_id)
    assert done.status is GenerationStatus.SUCCEEDED
    assert done.result_url is not None
    assert done.enqueued_at is not None and done.started_at is not None
    assert done.completed_at is not None and done.completed_at >= done.enqueued_at


async def test_failed_generation_has_error_message(oxen: FakeOxen, client: OxenClient) -> None:
    oxen.outcome_for_prompt("doomed", fail="Insufficient credits")
    [queued] = await client.enqueue("flux-1-dev", prompt="doomed cat")
    await oxen.wait_for_status(queued.generation_id, "failed")
    gen = await client.get_generation(queued.generation_id)
    assert gen.status is GenerationStatus.FAILED
    assert gen.error_message == "Insufficient credits"
    assert gen.result_url is None


async def test_model_params_validated_at_run_time(oxen: FakeOxen, client: OxenClient) -> None:
    [queued] = await client.enqueue("flux-1-dev", prompt="x", aspect_ratio="7:1")
    await oxen.wait_for_status(queued.generation_id, "failed")
    gen = await client.get_generation(queued.generation_id)
    assert gen.error_message is not None and "aspect_ratio" in gen.error_message


async def test_get_unknown_generation(client: OxenClient) -> None:
    with pytest.raises(NotFound) as info:
        await client.get_generation("00000000-0000-0000-0000-000000000000")
    assert info.value.error_type == "resource_not_found"
    assert info.value.message == "The requested resource could not be found"


async def test_list_defaults_to_active(oxen: FakeOxen, client: OxenClient) -> None:
    oxen.hold = True
    ids = [
        q.generation_id for q in await client.enqueue("flux-1-dev", num_generations=3, prompt="p")
    ]
    await oxen.complete(ids[0])
    active = await client.list_generations()
    assert {g.generation_id for g in active} == set(ids[1:])
    done = await client.list_generations(status="succeeded")
    assert [g.generation_id for g in done] == [ids[0]]
    assert oxen.requests_to("GET", "/api/ai/queue")[-1].query == {"status": "succeeded"}


async def test_list_filters(oxen: FakeOxen, client: OxenClient) -> None:
    oxen.hold = True
    [a] = await client.enqueue("flux-1-dev", prompt="a", target_repo="art", target_directory="cats")
    [b] = await client.enqueue(
        "black-forest-labs-flux-2-klein-4b", prompt="b", target_namespace="my-org"
    )
    by_model = await client.list_generations(model="black-forest-labs-flux-2-klein-4b")
    assert [g.generation_id for g in by_model] == [b.generation_id]
    by_repo = await client.list_generations(repo="art", folder="cats")
    assert [g.generation_id for g in by_repo] == [a.generation_id]
    by_ns = await client.list_generations(namespace="my-org")
    assert [g.generation_id for g in by_ns] == [b.generation_id]
    assert len(await client.list_generations(media_type="image")) == 2
    assert await client.list_generations(media_type="video") == []
    assert oxen.requests_to("GET", "/api/ai/queue")[-1].query == {"media_type": "video"}


async def test_cancel_active(oxen: FakeOxen, client: OxenClient) -> None:
    oxen.hold = True
    [queued] = await client.enqueue("flux-1-dev", prompt="x")
    async with client.open_events(idle_timeout=2) as _stream:
        await client.cancel(queued.generation_id)
    gen = await client.get_generation(queued.generation_id)
    assert gen.status is GenerationStatus.CANCELLED
    assert gen.completed_at is not None
    assert oxen.count("DELETE", f"/api/ai/queue/{queued.generation_id}") == 1


@pytest.mark.parametrize("mode", ["noop", "404"])
async def test_cancel_terminal(oxen: FakeOxen, client: OxenClient, mode: str) -> None:
    oxen.cancel_terminal = mode  # type: ignore[assignment]
    oxen.hold = True
    [queued] = await client.enqueue("flux-1-dev", prompt="x")
    await oxen.complete(queued.generation_id)
    if mode == "noop":
        await client.cancel(queued.generation_id)
    else:
        with pytest.raises(NotFound):
            await client.cancel(queued.generation_id)
    gen = await client.get_generation(queued.generation_id)
    assert gen.status is GenerationStatus.SUCCEEDED


async def test_cancel_unknown(client: OxenClient) -> None:
    with pytest.raises(NotFound):
        await client.cancel("00000000-0000-0000-0000-000000000000")


async def test_ids_are_path_quoted(oxen: FakeOxen, client: OxenClient) -> None:
    with pytest.raises(NotFound):
        await client.get_generation("../models")
    assert oxen.requests[-1].path.startswith("/api/ai/queue/")
