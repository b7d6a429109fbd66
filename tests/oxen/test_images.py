from __future__ import annotations

import pytest

from bot.oxen import BadRequest, NotFound, OxenClient
from tests.fakes.images import COLOURS, dominant_colour, image_size, is_png
from tests.fakes.oxen import FakeOxen


async def test_generate_url(oxen: FakeOxen, client: OxenClient) -> None:
    result = await client.generate_image("flux-1-dev", "a red barn", aspect_ratio="1:1", seed=3)
    assert result.model == "flux-1-dev"
    assert result.created is not None
    [image] = result.images
    assert image.url is not None and image.data is None
    data = await client.download(image.url)
    assert is_png(data)
    assert dominant_colour(data) == COLOURS["red"]
    body = oxen.requests_to("POST", "/api/ai/images/generate")[-1].json
    assert body == {
        "model": "flux-1-dev",
        "prompt": "a red barn",
        "response_format": "url",
        "aspect_ratio": "1:1",
        "seed": 3,
    }


async def test_generate_b64_decoded(oxen: FakeOxen, client: OxenClient) -> None:
    oxen.image_size = (32, 16)
    result = await client.generate_image("flux-1-dev", "a blue sea", response_format="b64_json")
    [image] = result.images
    assert image.url is None and image.data is not None
    assert is_png(image.data)
    assert image_size(image.data) == (32, 16)
    assert dominant_colour(image.data) == COLOURS["blue"]


async def test_generate_given_bytes_round_trip(oxen: FakeOxen, client: OxenClient) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"exact bytes"
    oxen.outcome_for_prompt("exact", image=png)
    result = await client.generate_image("flux-1-dev", "exact please", response_format="b64_json")
    assert result.images[0].data == png


async def test_generate_several_images(client: OxenClient) -> None:
    result = await client.generate_image("flux-1-dev", "green", n=3)
    assert len(result.images) == 3
    assert len({i.url for i in result.images}) == 3


async def test_generate_empty_prompt(client: OxenClient) -> None:
    with pytest.raises(BadRequest, match="Prompt cannot be empty"):
        await client.generate_image("flux-1-dev", "")


async def test_generate_unknown_model_format_b(client: OxenClient) -> None:
    with pytest.raises(NotFound) as info:
        await client.generate_image("bad-model-name", "x")
    assert info.value.message == "Model not found: bad-model-name"


async def test_generate_invalid_param_fails_now(client: OxenClient) -> None:
    with pytest.raises(BadRequest, match="num_inference_steps"):
        await client.generate_image("flux-1-dev", "x", num_inference_steps=99)


async def test_edit_with_input_image(oxen: FakeOxen, client: OxenClient) -> None:
    result = await client.edit_image(
        "qwen-image-edit", "make it yellow", input_image="https://example.com/in.png"
    )
    [image] = result.images
    assert image.url is not None
    assert dominant_colour(await client.download(image.url)) == COLOURS["yellow"]
    body = oxen.requests_to("POST", "/api/ai/images/edit")[-1].json
    assert body["input_image"] == "https://example.com/in.png"
    assert body["model"] == "qwen-image-edit"


async def test_edit_list_of_images_and_b64(oxen: FakeOxen, client: OxenClient) -> None:
    urls = ["https://example.com/a.png", "https://example.com/b.png"]
    result = await client.edit_image(
        "black-forest-labs-flux-2-klein-4b", "merge", input_image=urls, response_format="b64_json"
    )
    assert result.images[0].data is not None
    assert oxen.requests_to("POST", "/api/ai/images/edit")[-1].json["input_image"] == urls


async def test_edit_without_input_image_for_text_capable_model(
    oxen: FakeOxen, client: OxenClient
) -> None:
    result = await client.edit_image("black-forest-labs-flux-2-klein-4b", "purple hills")
    assert result.images
    assert "input_image" not in oxen.requests_to("POST", "/api/ai/images/edit")[-1].json


async def test_edit_missing_required_image(client: OxenClient) -> None:
    with pytest.raises(BadRequest, match="input_image"):
        await client.edit_image("qwen-image-edit", "x")


async def test_sync_on_text_model_rejected(client: OxenClient) -> None:
    with pytest.raises(BadRequest, match="unsupported_media_type"):
        await client.generate_image("gpt-4o-mini", "x")
