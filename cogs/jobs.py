"""/jobs: your unfinished requests in this server, each with a Cancel button (only you see it)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot import render
from bot.store import JobStore
from bot.ui import jobs_view

MAX_LISTED = 10  # one line and one Cancel button each, within 2000 characters


class JobsCog(commands.Cog):
    def __init__(self, store: JobStore) -> None:
        self._store = store

    @app_commands.command(name="jobs", description="Your images still being made in this server")
    async def jobs(self, interaction: discord.Interaction) -> None:
        pending = await self._store.pending_for_user(interaction.guild_id, interaction.user.id)
        queued = await self._store.queued_in_guild(interaction.guild_id)
        requests = render.group_requests(pending)
        if not requests:
            await interaction.response.send_message(
                "You have no images being made in this server. Start one with /imagine.",
                ephemeral=True,
            )
            return
        listed = requests[:MAX_LISTED]
        text = render.jobs_list(listed, queued)
        if len(requests) > MAX_LISTED:
            text += f"\n…and {len(requests) - MAX_LISTED} more."
        await interaction.response.send_message(
            text, view=jobs_view([jobs[0].request_id for jobs in listed]), ephemeral=True
        )


async def setup(bot: commands.Bot) -> None:
    from bot.app import ImagineBot

    assert isinstance(bot, ImagineBot)
    await bot.add_cog(JobsCog(bot.services.store))
