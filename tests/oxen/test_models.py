"""Parsing of Oxen's JSON into the typed models."""

from __future__ import annotations

import base64

import pytest

from bot.oxen import (
    CompletionEvent,
    Generation,
    GenerationStatus,
    ImageResult,
    Model,
    QueuedGeneration,
)


def test_status_terminal() -> None:
    assert {s for s in GenerationStatus if s.is_terminal} == {
        GenerationStatus.SUCCEEDED,
        GenerationStatus.FAILED,
        GenerationStatus.CANCELLED,
    }
    assert GenerationStatus("queued") == "queued"


def test_generation_row_with_echoed_params() -> None:
    row = {
        "generation_id": "7cf9b23a-1234-5678-9abc-def012345678",
        "model_name": "kling",
        "prompt": "An astronaut walking on Mars",
        "media_type": "video",
        "status": "processing",
        "result_url": None,
        "error_message": None,
        "enqueued_at": 1775091431,
        "started_at": 1775091432,
        "completed_at": None,
        "aspect_ratio": "16:9",
        "duration": 10,
    }
    gen = Generation.from_json(row)
    assert gen.status is GenerationStatus.PROCESSING
    assert gen.model_name == "kling"
    assert gen.started_at == 1775091432
    assert gen.completed_at is None
    assert dict(gen.params) == {"aspect_ratio": "16:9", "duration": 10}
    assert not gen.is_terminal


def test_generation_historical_shape() -> None:
    gen = Generation.from_json({"generation_id": "g1", "model": "old-model"})
    assert gen.model_name == "old-model"
    assert gen.status is GenerationStatus.PROCESSING
    assert gen.enqueued_at is None


def test_generation_requires_id_and_known_status() -> None:
    with pytest.raises(ValueError):
        Generation.from_json({"status": "queued"})
    with pytest.raises(ValueError):
        Generation.from_json({"generation_id": "g", "status": "exploded"})


@pytest.mark.parametrize("status", ["queued", "processing"])
def test_queued_generation_accepts_both_statuses(status: str) -> None:
    q = QueuedGeneration.from_json({"generation_id": "g", "status": status})
    assert q.status == status


def test_image_result_url_and_b64() -> None:
    raw = b"\x89PNG fake bytes"
    result = ImageResult.from_json(
        {
            "model": "m",
            "created": 1775090372,
            "images": [
                {"url": "https://x/y.png", "revised_prompt": "better"},
                {"b64_json": base64.b64encode(raw).decode()},
            ],
        }
    )
    assert result.created == 1775090372
    assert result.images[0].url == "https://x/y.png"
    assert result.images[0].revised_prompt == "better"
    assert result.images[1].data == raw
    assert result.images[1].url is None
    assert "PNG" not in repr(result)  # bytes are kept out of reprs


def test_image_result_old_top_level_image_url() -> None:
    result = ImageResult.from_json({"image_url": "https://x/old.png"})
    assert [i.url for i in result.images] == ["https://x/old.png"]
    assert result.model is None


def test_image_result_bad_base64() -> None:
    with pytest.raises(ValueError):
        ImageResult.from_json({"images": [{"b64_json": "!!!notbase64"}]})


def test_model_helpers() -> None:
    model = Model.from_json(
        {
            "id": "qwen-image-edit",
            "capabilities": {"input": ["text", "image"], "output": ["image"]},
            "request_schema": {"required": ["prompt", "input_image"]},
            "pricing": {"method": "per_image", "cost_per_image": 0.03},
        }
    )
    assert model.is_image_model and model.accepts_image_input
    assert model.request_schema is not None
    assert model.request_schema["required"] == ["prompt", "input_image"]
    assert model.pricing["cost_per_image"] == 0.03
    chat = Model.from_json({"id": "gpt", "capabilities": {"input": ["text"], "output": ["text"]}})
    assert not chat.is_image_model and not chat.accepts_image_input
    assert chat.request_schema is None
    bare = Model.from_json({"id": "bare"})
    assert bare.input_capabilities == () and dict(bare.pricing) == {}


def test_completion_event_shapes() -> None:
    ok = CompletionEvent.from_json(
        {
            "generation_id": "g",
            "status": "succeeded",
            "media_type": "image",
            "model": "m",
            "url": "u",
        }
    )
    assert ok.status is GenerationStatus.SUCCEEDED and ok.url == "u" and ok.error is None
    bad = CompletionEvent.from_json(
        {
            "generation_id": "g",
            "status": "failed",
            "media_type": "image",
            "error": "Insufficient credits",
        }
    )
    assert bad.status is GenerationStatus.FAILED and bad.error == "Insufficient credits"
    assert bad.model is None
