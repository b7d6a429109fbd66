"""build_params against the fake's seeded schemas, parsed by the real Model parser."""

from __future__ import annotations

from typing import Any

import pytest

from bot.core.errors import UserFacingError
from bot.core.validation import Options, allowed_aspect_ratios, build_params, supports_seed
from bot.oxen import Model
from tests.fakes.oxen import DEFAULT_MODELS

KLEIN = "black-forest-labs-flux-2-klein-4b"
DEV = "flux-1-dev"
QWEN = "qwen-image-edit"
URL = "https://cdn.example/cat.png"


def raw(model_id: str) -> dict[str, Any]:
    return next(m for m in DEFAULT_MODELS() if m["id"] == model_id)


def model(model_id: str, **changes: Any) -> Model:
    data = raw(model_id)
    data.update(changes)
    return Model.from_json(data)


def all_models() -> list[Model]:
    return [Model.from_json(m) for m in DEFAULT_MODELS()]


def refused(m: Model, options: Options, **kwargs: Any) -> str:
    with pytest.raises(UserFacingError) as info:
        build_params(m, options, **kwargs)
    message = str(info.value)
    assert len(message) <= 300
    return message


def test_options_become_oxen_params() -> None:
    params = build_params(
        model(KLEIN), Options("a cat", aspect_ratio="1:1", seed=7, steps=20, input_image=URL)
    )
    assert params == {
        "prompt": "a cat",
        "aspect_ratio": "1:1",
        "seed": 7,
        "num_inference_steps": 20,
        "input_image": [URL],  # klein takes a list of images
    }


def test_prompt_alone_sends_only_the_prompt() -> None:
    # Empty strings are what Discord sends for cleared options: they mean "not given".
    options = Options("a cat", aspect_ratio=" ", negative_prompt="", input_image="")
    assert build_params(model(DEV), options) == {"prompt": "a cat"}


def test_aspect_ratio_outside_the_enum_names_the_choices() -> None:
    message = refused(model(KLEIN), Options("a cat", aspect_ratio="21:9"))
    assert message == (
        f"`{KLEIN}` doesn't take aspect ratio `21:9`; choose one of 1:1, 16:9, 9:16, 4:3, 3:4."
    )


def test_aspect_ratio_free_text_is_passed_when_the_schema_lists_none() -> None:
    props = dict(raw(DEV)["request_schema"]["properties"])
    props["aspect_ratio"] = {"type": "string"}
    m = model(DEV, request_schema={"type": "object", "properties": props})
    assert build_params(m, Options("a", aspect_ratio="21:9"))["aspect_ratio"] == "21:9"


def test_aspect_ratio_on_a_model_without_one() -> None:
    schema = {"type": "object", "properties": {"prompt": {"type": "string"}}}
    message = refused(model(DEV, request_schema=schema), Options("a", aspect_ratio="1:1"))
    assert "doesn't take an aspect ratio" in message and "`flux-1-dev`" in message


@pytest.mark.parametrize("steps", [0, 51])
def test_steps_out_of_range(steps: int) -> None:
    message = refused(model(DEV), Options("a cat", steps=steps))
    assert message == "`steps` must be between 1 and 50 for `flux-1-dev`."


def test_steps_at_the_bounds_are_accepted() -> None:
    assert build_params(model(DEV), Options("a", steps=1))["num_inference_steps"] == 1
    assert build_params(model(DEV), Options("a", steps=50))["num_inference_steps"] == 50


def test_steps_uses_the_schema_name_steps_when_that_is_the_property() -> None:
    schema = {
        "type": "object",
        "properties": {"prompt": {"type": "string"}, "steps": {"type": "integer", "minimum": 4}},
    }
    m = model(DEV, request_schema=schema)
    assert build_params(m, Options("a", steps=8)) == {"prompt": "a", "steps": 8}
    assert refused(m, Options("a", steps=2)) == "`steps` must be at least 4 for `flux-1-dev`."


def test_steps_on_a_model_without_them() -> None:
    message = refused(model(QWEN), Options("a", steps=20, input_image=URL))
    assert message == "`qwen-image-edit` doesn't let you set `steps`: leave it empty."


def test_seed_outside_the_schema_range() -> None:
    props = dict(raw(DEV)["request_schema"]["properties"])
    props["seed"] = {"type": "integer", "minimum": 0, "maximum": 2147483647}
    m = model(DEV, request_schema={"type": "object", "properties": props})
    assert build_params(m, Options("a", seed=2147483647))["seed"] == 2147483647
    message = refused(m, Options("a", seed=-1))
    assert message == "`seed` must be between 0 and 2147483647 for `flux-1-dev`."


def test_seed_on_a_model_without_one() -> None:
    message = refused(model(QWEN), Options("a", seed=3, input_image=URL))
    assert message == "`qwen-image-edit` doesn't let you set `seed`: leave it empty."


def test_negative_prompt_goes_to_a_model_that_takes_it() -> None:
    params = build_params(model(DEV), Options("a cat", negative_prompt="dogs"))
    assert params["negative_prompt"] == "dogs"


def test_negative_prompt_refused_and_models_that_take_it_named() -> None:
    message = refused(model(KLEIN), Options("a", negative_prompt="dogs"), others=all_models())
    assert message == (
        f"`{KLEIN}` doesn't support `negative_prompt`: leave it empty or pick a model "
        "that does (flux-1-dev)."
    )
    # Without other schemas nothing can be named, but the advice stands.
    assert refused(model(KLEIN), Options("a", negative_prompt="dogs")).endswith(
        "pick a model that does."
    )


def test_input_image_is_a_string_for_qwen() -> None:
    params = build_params(model(QWEN), Options("make it blue", input_image=URL))
    assert params == {"prompt": "make it blue", "input_image": URL}


def test_input_image_on_a_text_only_model() -> None:
    message = refused(model(DEV), Options("a", input_image=URL))
    assert message == "`flux-1-dev` can't edit images; pick an edit model such as qwen-image-edit."
    named = refused(model(DEV), Options("a", input_image=URL), others=all_models())
    assert f"such as {KLEIN}, {QWEN}." in named  # never the chat model gpt-4o-mini


def test_edit_model_without_an_image() -> None:
    message = refused(model(QWEN), Options("make it blue"))
    assert message == (
        "`qwen-image-edit` edits an existing image: use /edit with an image attached."
    )


def test_no_schema_passes_everything_through_for_oxen_to_check() -> None:
    m = model(KLEIN, request_schema=None)  # as the models list gives it
    options = Options(
        "a", aspect_ratio="21:9", seed=1, steps=99, negative_prompt="x", input_image=URL
    )
    assert build_params(m, options) == {
        "prompt": "a",
        "aspect_ratio": "21:9",
        "seed": 1,
        "num_inference_steps": 99,
        "negative_prompt": "x",
        "input_image": URL,
    }


def test_long_user_text_is_cut_in_messages() -> None:
    typed = "9:" + "9" * 500 + "`@everyone\n"
    message = refused(model(KLEIN), Options("a", aspect_ratio=typed))
    assert "9" * 60 not in message and "@everyone" not in message
    echoed = message.split("`")[3]  # the second inline code span is what the user typed
    assert len(echoed) <= 50 and echoed.endswith("…")


def test_a_long_enum_keeps_the_message_short() -> None:
    ratios = [f"{w}:{h}" for w in range(1, 40) for h in (1, 2, 3)]
    props = {"prompt": {"type": "string"}, "aspect_ratio": {"type": "string", "enum": ratios}}
    m = model(DEV, request_schema={"type": "object", "properties": props})
    message = refused(m, Options("a", aspect_ratio="99:1"))
    assert message.startswith("`flux-1-dev` doesn't take aspect ratio `99:1`; choose one of 1:1")
    assert "more)" in message


def test_supports_seed() -> None:
    assert supports_seed(model(KLEIN))
    assert supports_seed(model(DEV))
    assert not supports_seed(model(QWEN))
    assert not supports_seed(model(KLEIN, request_schema=None))  # unknown: don't invent one


def test_allowed_aspect_ratios() -> None:
    assert allowed_aspect_ratios(model(KLEIN)) == ["1:1", "16:9", "9:16", "4:3", "3:4"]
    assert allowed_aspect_ratios(model(QWEN))[-2:] == ["3:2", "2:3"]
    assert allowed_aspect_ratios(model(KLEIN, request_schema=None)) == []
    assert allowed_aspect_ratios(model("gpt-4o-mini")) == []
