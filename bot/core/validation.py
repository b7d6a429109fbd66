"""Check a user's options against a model's ``request_schema`` and build the params for Oxen.

Oxen validates queued params only when the generation runs, so a bad value would surface
minutes later as a failed job; checking here lets the user fix it at once. Pure functions:
no network, no Discord.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.core.errors import UserFacingError
from bot.core.limits import DEFAULT_EDIT_MODEL
from bot.core.text import inline_code as _code
from bot.oxen import Model

__all__ = ["Options", "allowed_aspect_ratios", "build_params", "supports_seed"]

# Discord shows these ephemerally; keep them readable and never echo a wall of user text.
MAX_MESSAGE = 300
_MAX_MODEL_ID = 80
_MAX_NAMED_MODELS = 3
# The user's name for steps, then the schema names that mean it.
_STEPS_NAMES = ("num_inference_steps", "steps")


@dataclass(frozen=True, slots=True)
class Options:
    prompt: str
    aspect_ratio: str | None = None
    seed: int | None = None
    steps: int | None = None
    negative_prompt: str | None = None
    input_image: str | None = None  # a public URL of an image to edit


def build_params(model: Model, options: Options, *, others: Iterable[Model] = ()) -> dict[str, Any]:
    """The params to send to Oxen for ``model``; raises UserFacingError if they can't work.

    ``others`` (other models, with schemas where known) only serve to name alternatives in
    error messages. Without a schema nothing is checked and Oxen validates by itself.
    """
    aspect_ratio = _given(options.aspect_ratio)
    negative_prompt = _given(options.negative_prompt)
    input_image = _given(options.input_image)
    props = _properties(model)
    if props is None:
        return _pass_through(options, aspect_ratio, negative_prompt, input_image)

    name = _code(model.id, _MAX_MODEL_ID)
    params: dict[str, Any] = {"prompt": options.prompt}
    if input_image is None and "input_image" in _required(model):
        raise _error(f"{name} edits an existing image: use /edit with an image attached.")
    if input_image is not None:
        prop = props.get("input_image")
        if prop is None:
            alternatives = _edit_models(model, others)
            raise _error(f"{name} can't edit images; pick an edit model such as {alternatives}.")
        # Some models take one image (a string), others a list of them.
        params["input_image"] = [input_image] if _is_array(prop) else input_image
    if aspect_ratio is not None:
        params["aspect_ratio"] = _check_aspect_ratio(name, props, aspect_ratio)
    if options.seed is not None:
        if "seed" not in props:
            raise _unsupported(name, "seed")
        _check_range(name, "seed", props["seed"], options.seed)
        params["seed"] = options.seed
    if options.steps is not None:
        key = next((k for k in _STEPS_NAMES if k in props), None)
        if key is None:
            raise _unsupported(name, "steps")
        _check_range(name, "steps", props[key], options.steps)
        params[key] = options.steps
    if negative_prompt is not None:
        if "negative_prompt" not in props:
            raise _error(
                f"{name} doesn't support `negative_prompt`: leave it empty or pick a model "
                f"that does{_negative_prompt_models(model, others)}."
            )
        params["negative_prompt"] = negative_prompt
    return params


def supports_seed(model: Model) -> bool:
    """Whether the schema takes a seed, so the caller may pick one to make results repeatable."""
    props = _properties(model)
    return props is not None and "seed" in props


def allowed_aspect_ratios(model: Model) -> list[str]:
    """The aspect ratios the schema lists, or [] when unknown (no schema, or free text)."""
    props = _properties(model)
    prop = props.get("aspect_ratio") if props is not None else None
    enum = prop.get("enum") if isinstance(prop, Mapping) else None
    return [v for v in enum if isinstance(v, str)] if isinstance(enum, list) else []


# -- checks -------------------------------------------------------------------------------


def _check_aspect_ratio(name: str, props: Mapping[str, Any], value: str) -> str:
    if "aspect_ratio" not in props:
        raise _error(f"{name} doesn't take an aspect ratio: leave `aspect_ratio` empty.")
    prop = props["aspect_ratio"]
    enum = prop.get("enum") if isinstance(prop, Mapping) else None
    if isinstance(enum, list) and enum and value not in enum:
        choices = [v for v in enum if isinstance(v, str)]
        raise _error(
            f"{name} doesn't take aspect ratio {_code(value)}; choose one of {_join(choices)}."
        )
    return value


def _unsupported(name: str, option: str) -> UserFacingError:
    return _error(f"{name} doesn't let you set `{option}`: leave it empty.")


def _check_range(name: str, option: str, prop: object, value: int) -> None:
    if not isinstance(prop, Mapping):
        return
    low, high = _bound(prop.get("minimum")), _bound(prop.get("maximum"))
    if (low is None or value >= low) and (high is None or value <= high):
        return
    if low is not None and high is not None:
        rule = f"between {_num(low)} and {_num(high)}"
    elif low is not None:
        rule = f"at least {_num(low)}"
    else:
        rule = f"at most {_num(high)}"
    raise _error(f"`{option}` must be {rule} for {name}.")


# -- schema reading -------------------------------------------------------------------------


def _properties(model: Model) -> Mapping[str, Any] | None:
    """The schema's properties, or None when there is nothing to check against."""
    schema = model.request_schema
    props = schema.get("properties") if schema else None
    return props if isinstance(props, Mapping) and props else None


def _required(model: Model) -> list[str]:
    required = model.request_schema.get("required") if model.request_schema else None
    return [r for r in required if isinstance(r, str)] if isinstance(required, list) else []


def _is_array(prop: object) -> bool:
    if not isinstance(prop, Mapping):
        return False
    kind = prop.get("type")
    # JSON Schema allows a list of types, e.g. ["array", "null"].
    return kind == "array" or (isinstance(kind, list) and "array" in kind)


def _bound(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def _pass_through(
    options: Options, aspect_ratio: str | None, negative_prompt: str | None, input_image: str | None
) -> dict[str, Any]:
    candidates: dict[str, Any] = {
        "prompt": options.prompt,
        "aspect_ratio": aspect_ratio,
        "seed": options.seed,
        "num_inference_steps": options.steps,
        "negative_prompt": negative_prompt,
        "input_image": input_image,
    }
    return {k: v for k, v in candidates.items() if v is not None}


# -- alternatives named in messages ---------------------------------------------------------


def _edit_models(model: Model, others: Iterable[Model]) -> str:
    ids = [m.id for m in others if m.id != model.id and m.is_image_model and m.accepts_image_input]
    return _join(ids[:_MAX_NAMED_MODELS] or [DEFAULT_EDIT_MODEL])


def _negative_prompt_models(model: Model, others: Iterable[Model]) -> str:
    ids = [m.id for m in others if m.id != model.id and "negative_prompt" in (_properties(m) or {})]
    return f" ({_join(ids[:_MAX_NAMED_MODELS])})" if ids else ""


# -- wording --------------------------------------------------------------------------------


def _given(value: str | None) -> str | None:
    """Discord sends empty strings for cleared options; treat them as not given."""
    if value is None:
        return None
    value = value.strip()
    return value or None


def _join(values: Sequence[str], budget: int = 120) -> str:
    """``a, b, c`` cut to ``budget`` characters so a long enum cannot swamp the message."""
    out = ""
    for index, value in enumerate(values):
        part = value if not out else f", {value}"
        if out and len(out) + len(part) > budget:
            return f"{out}, … ({len(values) - index} more)"
        out += part
    return out


def _num(value: float | None) -> str:
    # 2.0 reads "2"; a big int bound must not go through float and lose digits.
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _error(message: str) -> UserFacingError:
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 1] + "…"
    return UserFacingError(message)
