"""/imagine: parse the options and hand the request to the shared request flow."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot import validation
from bot.catalog import ModelCatalog
from bot.request import ImagineRequest
from bot.ui import interaction_context, model_choices, start_request

# Offered when the chosen model's own list is unknown.
COMMON_ASPECT_RATIOS = ("1:1", "16:9", "9:16", "4:3", "3:4", "3:2", "2:3")


class ImagineCog(commands.Cog):
    def __init__(self, catalog: ModelCatalog) -> None:
        self._catalog = catalog

    @app_commands.command(name="imagine", description="Create an image from a text prompt")
    @app_commands.describe(
        prompt="What to draw, e.g. “a watercolor fox in the snow”",
        model="The Oxen image model (leave empty for the server default)",
        count="How many images to make (1–4)",
        aspect_ratio="Shape of the image, e.g. 16:9 (the model's choices are suggested)",
        seed="A number that makes the result repeatable (random if empty)",
        steps="More steps: more detail, but slower (only some models)",
        negative_prompt="Things to keep out of the image (only some models use it)",
    )
    async def imagine(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, 1500],
        model: str | None = None,
        count: app_commands.Range[int, 1, 4] = 1,
        aspect_ratio: app_commands.Range[str, 1, 20] | None = None,
        seed: app_commands.Range[int, 0, 4_294_967_295] | None = None,
        steps: app_commands.Range[int, 1, 500] | None = None,
        negative_prompt: app_commands.Range[str, 1, 1000] | None = None,
    ) -> None:
        request = ImagineRequest(
            prompt=prompt,
            model=model,
            count=count,
            aspect_ratio=aspect_ratio,
            seed=seed,
            steps=steps,
            negative_prompt=negative_prompt,
            **interaction_context(interaction),
        )
        await start_request(interaction, request)

    @imagine.autocomplete("model")
    async def model_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await model_choices(self._catalog, current)

    @imagine.autocomplete("aspect_ratio")
    async def aspect_ratio_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        chosen = getattr(interaction.namespace, "model", None) or self._catalog.default_model
        model = await self._catalog.details(chosen)
        values = (validation.allowed_aspect_ratios(model) if model else []) or COMMON_ASPECT_RATIOS
        return [
            app_commands.Choice(name=value, value=value)
            for value in values
            if current.strip() in value
        ][:25]


async def setup(bot: commands.Bot) -> None:
    from bot.app import ImagineBot

    assert isinstance(bot, ImagineBot)
    await bot.add_cog(ImagineCog(bot.services.catalog))
