"""/help: what the bot does, its commands and options, and the limits in force."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.config import Settings
from bot.core.limits import MAX_IMAGES_PER_REQUEST as MAX_COUNT
from bot.core.limits import PROMPT_MAX_CHARS
from bot.core.ports import ServerSettingsRepository
from bot.core.types import GuildSettings
from bot.discord_app import render


def help_embed(settings: Settings, server: GuildSettings | None) -> discord.Embed:
    embed = discord.Embed(
        title="imagine-bot",
        description=(
            "I make images with Oxen.ai models. Ask with /imagine; I answer at once, and post "
            "the image in the same channel when it is ready (even after a restart)."
        ),
        colour=render.EMBED_COLOUR,
    )
    embed.add_field(
        name="/imagine",
        value=(
            "`prompt` what to draw · `model` which Oxen model · `count` 1–"
            f"{MAX_COUNT} images · `aspect_ratio` e.g. 16:9 · `seed` repeat a result · "
            "`steps` detail vs. speed · `negative_prompt` what to leave out. "
            "Options a model doesn't take are refused with the ones it does."
        ),
        inline=False,
    )
    embed.add_field(
        name="/edit",
        value="`image` a PNG, JPEG, WebP or GIF · `prompt` what should change · `model`. "
        "Or right-click a message with an image → Apps → Edit with imagine-bot.",
        inline=False,
    )
    embed.add_field(
        name="Buttons on results",
        value="🎲 Reroll (new seed) · ✏️ Vary (change the prompt) · 🖌️ Edit · ℹ️ Info · "
        "🗑️ Delete (the requester or Manage Messages) · 📤 Share to the server gallery · "
        "⭐ vote (press again to take it back). Cancel sits on the status message.",
        inline=False,
    )
    embed.add_field(name="/jobs", value="Your images still being made, with Cancel.", inline=False)
    embed.add_field(
        name="/gallery",
        value="`top` the most-voted shared images (day, week, month, all) · `search` titles "
        "and prompts · `user` a member's · `mine` yours, and how often they were remixed · "
        "`prefs` let your images be shared when they get enough votes (off until you say so).",
        inline=False,
    )
    minutes = round(settings.max_generation_age / 60)
    embed.add_field(
        name="Limits",
        value=(
            f"Default model `{settings.oxen_model}`, edits `{settings.oxen_edit_model}`. "
            f"Up to {MAX_COUNT} images per request; prompts up to {PROMPT_MAX_CHARS} characters. "
            f"A generation unfinished after {minutes} min is cancelled. Results over this "
            "channel's upload limit are shrunk to fit, or linked."
            + (
                f" The bot makes at most {settings.max_generations_in_flight} images at once; "
                "more wait in line, their place shown."
                if settings.max_generations_in_flight
                else ""
            )
        ),
        inline=False,
    )
    if server is not None:
        rules = server.describe()
        names = ("Images at once per user", "Images waiting per user", "Daily images per user",
                 "Cooldown per user", "Daily images for the server", "Channels",
                 "Spoiler on results", "Editing uploads")  # fmt: skip
        embed.add_field(
            name="On this server",
            value=" · ".join(f"{name}: {rules[name]}" for name in names),
            inline=False,
        )
    return embed


class HelpCog(commands.Cog):
    def __init__(self, settings: Settings, servers: ServerSettingsRepository) -> None:
        self._settings = settings
        self._servers = servers

    @app_commands.command(name="help", description="What imagine-bot does and how to use it")
    async def help(self, interaction: discord.Interaction) -> None:
        guild_id = interaction.guild_id
        server = await self._servers.get(guild_id) if guild_id is not None else None
        embed = help_embed(self._settings, server)
        await interaction.response.send_message(embed=embed, ephemeral=True)
