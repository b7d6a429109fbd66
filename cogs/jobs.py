"""/jobs: your unfinished requests here (at Oxen or waiting in the bot's line), each with a Cancel
button (only you see it)."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.ports import Store
from bot.core.waiting_line import WaitingLine
from bot.discord_app import render
from bot.discord_app.buttons import Buttons

MAX_LISTED = 10  # one line and one Cancel button each, within 2000 characters


class JobsCog(commands.Cog):
    def __init__(self, store: Store, line: WaitingLine, buttons: Buttons) -> None:
        self._store = store
        self._line = line
        self._buttons = buttons

    @app_commands.command(name="jobs", description="Your images still being made here")
    async def jobs(self, interaction: discord.Interaction) -> None:
        guild_id, user_id = interaction.guild_id, interaction.user.id
        pending = await self._store.jobs.pending_for_user(guild_id, user_id)
        queued = await self._store.jobs.queued_in_guild(guild_id)
        waiting = [
            place
            for place in await self._line.places()
            if (place.waiting.guild_id, place.waiting.requester_id) == (guild_id, user_id)
        ]
        waiting.sort(key=lambda place: place.own_place)
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
        ids = [jobs[0].request_id for jobs in listed] + [
            place.waiting.request_id for place in waiting_listed
        ]
        await interaction.response.send_message(
            text, view=self._buttons.jobs_view(ids), ephemeral=True
        )
