from __future__ import annotations

import pytest

from bot.oxen import NotFound, OxenClient
from tests.fakes.oxen import FakeOxen


async def test_list_models(client: OxenClient) -> None:
    models = {m.id: m for m in await client.list_models()}
    assert set(models) >= {
        "black-forest-labs-flux-2-klein-4b",
        "flux-1-dev",
        "qwen-image-edit",
        "gpt-4o-mini",
    }
    assert models["flux-1-dev"].is_image_model
    assert not models["gpt-4o-mini"].is_image_model
    assert models["qwen-image-edit"].accepts_image_input
    assert models["flux-1-dev"].pricing["method"] == "per_image"
    assert models["flux-1-dev"].display_name == "FLUX.1 [dev]"


async def test_list_models_filters(oxen: FakeOxen, client: OxenClient) -> None:
    models = await client.list_models(developer_name="openai")
    assert [m.id for m in models] == ["gpt-4o-mini"]
    await client.list_models(provider_name="replicate")
    assert oxen.requests[-1].query == {"provider_name": "replicate"}


async def test_search_models(oxen: FakeOxen, client: OxenClient) -> None:
    found = await client.search_models("flux")
    assert {m.id for m in found} == {"black-forest-labs-flux-2-klein-4b", "flux-1-dev"}
    assert oxen.requests[-1].query == {"search": "flux"}
    assert await client.search_models("no-such-thing") == []


async def test_get_model_has_request_schema(client: OxenClient) -> None:
    model = await client.get_model("black-forest-labs-flux-2-klein-4b")
    assert model.request_schema is not None
    props = model.request_schema["properties"]
    assert props["aspect_ratio"]["enum"] == ["1:1", "16:9", "9:16", "4:3", "3:4"]
    assert props["num_inference_steps"]["minimum"] == 1
    assert props["num_inference_steps"]["maximum"] == 50
    assert "seed" in props and "output_format" in props
    assert model.accepts_image_input and model.is_image_model
    dev = await client.get_model("flux-1-dev")
    assert dev.request_schema is not None and "negative_prompt" in dev.request_schema["properties"]


async def test_get_unknown_model(client: OxenClient) -> None:
    with pytest.raises(NotFound, match="Model not found: nope"):
        await client.get_model("nope")


async def test_added_model(oxen: FakeOxen, client: OxenClient) -> None:
    oxen.add_model(
        {
            "id": "kling-video",
            "capabilities": {"input": ["text"], "output": ["video"]},
            "endpoint": "/videos/generate",
        }
    )
    model = await client.get_model("kling-video")
    assert not model.is_image_model
    [queued] = await client.enqueue("kling-video", prompt="astronaut")
    assert oxen.generations[queued.generation_id]["media_type"] == "video"
