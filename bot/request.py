"""What someone asked for: a prompt, its options, and where the result goes. No Discord types."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.store import Job


@dataclass(frozen=True)
class ImagineRequest:
    prompt: str
    channel_id: int
    requester_id: int
    guild_id: int | None = None
    model: str | None = None  # None: the server default (the edit default when editing)
    count: int = 1
    aspect_ratio: str | None = None
    seed: int | None = None  # None: a random seed where the model takes one
    steps: int | None = None
    negative_prompt: str | None = None
    input_image: str | None = None  # a public URL of the image to edit
    input_is_upload: bool = False  # the image to edit is someone's own upload, not a bot result
    channel_nsfw: bool = False  # the channel is age-restricted (NSFW)
    upload_limit: int | None = None
    role_ids: tuple[int, ...] = ()  # the requester's roles here (exempt roles skip limits)

    @classmethod
    def again(
        cls, job: Job, context: dict[str, Any], *, prompt: str | None = None
    ) -> ImagineRequest:
        """The same options as an earlier image (one image, a new seed), for someone else maybe:
        Reroll and Vary. The image an earlier edit started from may have been someone's upload:
        treated as one, so the server's upload rule cannot be sidestepped by a reroll."""
        params = job.params
        input_image = _first(params.get("input_image"))
        return cls(
            prompt=prompt if prompt is not None else job.prompt,
            model=job.model,
            aspect_ratio=_str(params.get("aspect_ratio")),
            steps=_int(params.get("num_inference_steps", params.get("steps"))),
            negative_prompt=_str(params.get("negative_prompt")),
            input_image=input_image,
            input_is_upload=input_image is not None,
            **context,
        )


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _first(value: object) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    return _str(value)
