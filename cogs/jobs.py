"""/jobs: your unfinished requests here (at Oxen or waiting in the bot's line), each with a Cancel
button (only you see it)."""

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

    @app_commands.command(name="jobs", description="Your images still being made here")
    async def jobs(self, interaction: discord.Interaction) -> None:
        guild_id, user_id = interaction.guild_id, interaction.user.id
        pending = await self._store.pending_for_user(guild_id, user_id)
        queued = await self._store.queued_in_guild(guild_id)
        waiting = [
            (await self._store.waiting_position(w.id), w)
            for w in await self._store.waiting_for_user(guild_id, user_id)
        ]
        requests = render.group_requests(pending)
        if not requests and not waiting:
            await interaction.response.send_message(
                "You have no images being made here. Start one with /imagine.", ephemeral=True
            )
            return
        listed = requests[:MAX_LISTED]
        waiting_listed = waiting[: MAX_LISTED - len(listed)]
        text = render.jobs_list(listed, queued, waiting_listed)
        more = len(requests) + len(waiting) - len(listed) - len(waiting_listed)
        if more:
            text += f"\n…and {more} more."
        ids = [jobs[0].request_id for jobs in listed] + [w.request_id for _, w in waiting_listed]
        await interaction.response.send_message(text, view=jobs_view(ids), ephemeral=True)


async def setup(bot: commands.Bot) -> None:
    from bot.app import ImagineBot

    assert isinstance(bot, ImagineBot)
    await bot.add_cog(JobsCog(bot.services.store))
