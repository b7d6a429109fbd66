"""/gallery: this server's shared images (top, search, by member, your own) and your choices.

Every answer is private (ephemeral). Images shared from age-restricted channels are listed only
when the command is used in one.
"""

from __future__ import annotations

from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.gallery import Period
from bot.core.sharing import Sharing
from bot.core.types import GalleryPrefs, Share
from bot.discord_app import gallery_render as views
from bot.discord_app.gallery import Gallery
from bot.discord_app.origin import is_nsfw

_NONE_YET = "Nothing here yet. Press 📤 Share on a result to put it in the gallery."


@app_commands.guild_only()
class GalleryCog(commands.GroupCog, group_name="gallery", group_extras={"server_only": True}):
    """This server's gallery of shared images."""

    def __init__(self, sharing: Sharing, gallery: Gallery) -> None:
        self._sharing = sharing
        self._gallery = gallery
        super().__init__()

    @app_commands.command(name="top", description="The most-voted shared images of a period")
    @app_commands.describe(period="day, week (the last 7 days), month (30 days) or all time")
    async def top(
        self,
        interaction: discord.Interaction,
        period: Literal["day", "week", "month", "all"] = "week",
    ) -> None:
        chosen = Period(period)
        await interaction.response.defer(ephemeral=True, thinking=True)
        shares = await self._sharing.top(_guild(interaction), chosen, nsfw=_nsfw(interaction))
        await self._answer(interaction, f"⭐ Top images {chosen.words}", shares)

    @app_commands.command(
        name="search", description="Search the titles and prompts of shared images"
    )
    @app_commands.describe(query="Words from a title or a prompt")
    async def search(
        self, interaction: discord.Interaction, query: app_commands.Range[str, 1, 100]
    ) -> None:
        shares = await self._sharing.search(_guild(interaction), query, nsfw=_nsfw(interaction))
        await interaction.response.defer(ephemeral=True, thinking=True)
        title = f"🔎 {discord.utils.escape_markdown(' '.join(query.split()))[:200]}"
        await self._answer(interaction, title, shares, empty="No shared image matches that.")

    @app_commands.command(name="user", description="A member's shared images")
    @app_commands.describe(member="Whose images")
    async def user(self, interaction: discord.Interaction, member: discord.Member) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        shares = await self._sharing.by_creator(
            _guild(interaction), member.id, nsfw=_nsfw(interaction)
        )
        title = f"🖼️ Shared by {views.safe_name(member.display_name)}"
        await self._answer(interaction, title, shares, empty="They haven't shared any image yet.")

    @app_commands.command(
        name="mine", description="Your shared images, and how often they were remixed"
    )
    async def mine(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        mine = await self._sharing.mine(
            _guild(interaction), interaction.user.id, nsfw=_nsfw(interaction)
        )
        times = {0: "not yet", 1: "once"}.get(mine.remixed, f"{mine.remixed} times")
        footer = (
            f"Others remixed your images {times}. "
            f"Auto-share: {'on' if mine.prefs.auto_share else 'off'} (/gallery prefs)."
        )
        await self._answer(interaction, "🖼️ Your shared images", mine.shares, footer=footer)

    @app_commands.command(name="prefs", description="Your gallery choices: auto-share, prompts")
    @app_commands.describe(
        auto_share="Let your images be shared when they get the server's number of votes",
        show_prompt="Show your prompt on posts shared automatically",
    )
    async def prefs(
        self,
        interaction: discord.Interaction,
        auto_share: bool | None = None,
        show_prompt: bool | None = None,
    ) -> None:
        before, after = await self._sharing.update_prefs(
            _guild(interaction),
            interaction.user.id,
            auto_share=auto_share,
            show_prompt=show_prompt,
        )
        await interaction.response.send_message(_prefs_lines(before, after), ephemeral=True)

    @commands.Cog.listener()
    async def on_raw_thread_delete(self, payload: discord.RawThreadDeleteEvent) -> None:
        """A gallery post deleted in Discord itself leaves every list too."""
        await self._gallery.post_gone(payload.thread_id)

    async def _answer(
        self,
        interaction: discord.Interaction,
        title: str,
        shares: list[Share],
        *,
        empty: str = _NONE_YET,
        footer: str = "",
    ) -> None:
        # Thumbnails of images from age-restricted channels come spoilered, even there.
        grid = await self._gallery.grid_file(shares, spoiler=any(s.nsfw for s in shares))
        # Discord never blurs an embed's image: a spoilered grid stays an attachment only.
        shown = grid is not None and grid.filename == views.GRID_FILENAME
        embed = views.list_embed(title, shares, empty=empty, grid=shown, footer=footer)
        await interaction.edit_original_response(
            embed=embed,
            attachments=[grid] if grid is not None else [],
            allowed_mentions=discord.AllowedMentions.none(),
        )


def _guild(interaction: discord.Interaction) -> int:
    assert interaction.guild_id is not None  # guild_only
    return interaction.guild_id


def _nsfw(interaction: discord.Interaction) -> bool:
    """Shares from age-restricted channels are listed in age-restricted channels only."""
    return is_nsfw(interaction.channel)


def _prefs_lines(before: GalleryPrefs, after: GalleryPrefs) -> str:
    def describe(prefs: GalleryPrefs) -> dict[str, str]:
        return {
            "Auto-share my images": "on" if prefs.auto_share else "off",
            "Prompt on auto-shared posts": "shown" if prefs.show_prompt else "private",
        }

    old, new = describe(before), describe(after)
    lines = [f"**{name}**: {old[name]} → {new[name]}" for name in new if old[name] != new[name]]
    if not lines:
        lines = [f"**{name}**: {value}" for name, value in new.items()]
    if after.auto_share:
        lines.append(
            "When one of your images gets this server's number of ⭐ votes, it goes to the "
            "gallery. You can withdraw it any time."
        )
    else:
        lines.append("Nothing of yours is shared unless you press 📤 Share.")
    return "\n".join(lines)
