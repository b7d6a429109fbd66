"""/imagine: parse the options and hand the request to the request flow."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.catalog import ModelCatalog
from bot.core.limits import (
    ASPECT_RATIO_MAX_CHARS,
    MAX_IMAGES_PER_REQUEST,
    MAX_SEED,
    MAX_STEPS,
    NEGATIVE_PROMPT_MAX_CHARS,
    PROMPT_MAX_CHARS,
)
from bot.core.types import ImagineRequest
from bot.discord_app.autocomplete import aspect_ratio_choices, model_choices
from bot.discord_app.flow import RequestFlow
from bot.discord_app.origin import origin_of


class ImagineCog(commands.Cog):
    def __init__(self, flow: RequestFlow, catalog: ModelCatalog) -> None:
        self._flow = flow
        self._catalog = catalog

    @app_commands.command(name="imagine", description="Create an image from a text prompt")
    @app_commands.describe(
        prompt="What to draw, e.g. “a watercolor fox in the snow”",
        model="The Oxen image model (leave empty for the server default)",
        count=f"How many images to make (1–{MAX_IMAGES_PER_REQUEST})",
        aspect_ratio="Shape of the image, e.g. 16:9 (the model's choices are suggested)",
        seed="A number that makes the result repeatable (random if empty)",
        steps="More steps: more detail, but slower (only some models)",
        negative_prompt="Things to keep out of the image (only some models use it)",
    )
    async def imagine(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, PROMPT_MAX_CHARS],
        model: str | None = None,
        count: app_commands.Range[int, 1, MAX_IMAGES_PER_REQUEST] = 1,
        aspect_ratio: app_commands.Range[str, 1, ASPECT_RATIO_MAX_CHARS] | None = None,
        seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
        steps: app_commands.Range[int, 1, MAX_STEPS] | None = None,
        negative_prompt: app_commands.Range[str, 1, NEGATIVE_PROMPT_MAX_CHARS] | None = None,
    ) -> None:
        request = ImagineRequest(
            prompt=prompt,
            origin=origin_of(interaction),
            model=model,
            count=count,
            aspect_ratio=aspect_ratio,
            seed=seed,
            steps=steps,
            negative_prompt=negative_prompt,
        )
        await self._flow.start(interaction, request)

    @imagine.autocomplete("model")
    async def model_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await model_choices(self._catalog, current)

    @imagine.autocomplete("aspect_ratio")
    async def aspect_ratio_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        chosen = getattr(interaction.namespace, "model", None)
        return await aspect_ratio_choices(self._catalog, chosen, current)
