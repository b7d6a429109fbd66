"""/imagine: parse options, check the channel, hand the request to the service, show status."""

from __future__ import annotations

from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot import render
from bot.catalog import ModelCatalog
from bot.errors import UserFacingError
from bot.imagine import ImagineRequest, ImagineService
from bot.permissions import missing_post_permissions

AspectRatio = Literal["1:1", "16:9", "9:16", "4:3", "3:4"]


class ImagineCog(commands.Cog):
    def __init__(self, service: ImagineService, catalog: ModelCatalog) -> None:
        self._service = service
        self._catalog = catalog

    @app_commands.command(name="imagine", description="Create an image from a text prompt")
    @app_commands.guild_only()
    @app_commands.describe(
        prompt="What to draw, e.g. “a watercolor fox in the snow”",
        model="The Oxen image model (leave empty for the server default)",
        count="How many images to make (1–4)",
        aspect_ratio="Shape of the image",
        seed="A number that makes the result repeatable",
        negative_prompt="Things to keep out of the image (only some models use it)",
    )
    async def imagine(
        self,
        interaction: discord.Interaction,
        prompt: app_commands.Range[str, 1, 1500],
        model: str | None = None,
        count: app_commands.Range[int, 1, 4] = 1,
        aspect_ratio: AspectRatio | None = None,
        seed: app_commands.Range[int, 0, 4_294_967_295] | None = None,
        negative_prompt: app_commands.Range[str, 1, 1000] | None = None,
    ) -> None:
        missing = missing_post_permissions(interaction)
        if missing:
            raise UserFacingError(
                "I can't post images in this channel: I'm missing "
                + ", ".join(f"**{name}**" for name in missing)
                + ". Ask a server admin to grant it, or use another channel."
            )
        # Acknowledge first: Oxen may take longer than Discord's 3 seconds to answer.
        await interaction.response.defer(thinking=True)
        request = ImagineRequest(
            prompt=prompt,
            model=model,
            count=count,
            aspect_ratio=aspect_ratio,
            seed=seed,
            negative_prompt=negative_prompt,
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id or 0,
            requester_id=interaction.user.id,
            upload_limit=interaction.filesize_limit,
        )
        accepted = await self._service.submit(request)
        status = await interaction.edit_original_response(
            content=render.queued_status(prompt, accepted.model, count),
            allowed_mentions=discord.AllowedMentions.none(),
        )
        await self._service.attach_status_message(accepted, status.id)

    @imagine.autocomplete("model")
    async def model_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return [
            app_commands.Choice(name=label, value=model_id)
            for label, model_id in await self._catalog.suggest(current)
        ]


async def setup(bot: commands.Bot) -> None:
    from bot.app import ImagineBot

    assert isinstance(bot, ImagineBot)
    await bot.add_cog(ImagineCog(bot.services.imagine, bot.services.catalog))
