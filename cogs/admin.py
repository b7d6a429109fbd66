"""/imagine-admin: show and change this server's limits, moderation, audit log, model and
gallery."""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.catalog import ModelCatalog
from bot.core.errors import UserFacingError
from bot.core.gallery import check_theme
from bot.core.limits import MAX_AUTO_SHARE_VOTES
from bot.core.server_admin import Change, ServerAdmin, add_term, without
from bot.core.types import GuildSettings
from bot.core.web_gallery import WebChoice, WebGallery
from bot.discord_app import render
from bot.discord_app.autocomplete import model_choices
from bot.discord_app.gallery import Gallery
from bot.discord_app.permissions import missing_permissions


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class AdminCog(commands.GroupCog, group_name="imagine-admin", group_extras={"server_only": True}):
    """Server settings for imagine-bot (Manage Server)."""

    def __init__(
        self, admin: ServerAdmin, catalog: ModelCatalog, gallery: Gallery, web: WebGallery
    ) -> None:
        self._admin = admin
        self._catalog = catalog
        self._gallery = gallery
        self._web = web
        super().__init__()

    @app_commands.command(name="show", description="Show this server's imagine-bot settings")
    async def show(self, interaction: discord.Interaction) -> None:
        settings = await self._admin.show(_guild(interaction))
        embed = discord.Embed(title="imagine-bot settings", colour=render.EMBED_COLOUR)
        for name, value in settings.describe().items():
            embed.add_field(name=name, value=value, inline=True)
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @app_commands.command(name="limits", description="Fair-use limits (0 = unlimited budget)")
    @app_commands.describe(
        per_user_at_once="Images one person may have at Oxen at once (more wait their turn)",
        per_user_waiting="Images one person may have waiting their turn (more are refused)",
        cooldown_seconds="Seconds a person waits between requests",
        per_user_daily="Images one person may make per day (UTC; 0 = unlimited)",
        server_daily="Images the whole server may make per day (0 = unlimited)",
    )
    async def limits(
        self,
        interaction: discord.Interaction,
        per_user_at_once: app_commands.Range[int, 1, 100] | None = None,
        per_user_waiting: app_commands.Range[int, 0, 1000] | None = None,
        cooldown_seconds: app_commands.Range[int, 0, 86_400] | None = None,
        per_user_daily: app_commands.Range[int, 0, 100_000] | None = None,
        server_daily: app_commands.Range[int, 0, 1_000_000] | None = None,
    ) -> None:
        def change(s: GuildSettings) -> GuildSettings:
            return replace(
                s,
                max_in_flight=s.max_in_flight if per_user_at_once is None else per_user_at_once,
                max_waiting=s.max_waiting if per_user_waiting is None else per_user_waiting,
                cooldown_seconds=s.cooldown_seconds
                if cooldown_seconds is None
                else cooldown_seconds,
                daily_quota=s.daily_quota if per_user_daily is None else per_user_daily,
                daily_budget=s.daily_budget if server_daily is None else server_daily,
            )

        await _answer(interaction, await self._admin.update(_guild(interaction), change))

    @app_commands.command(
        name="exempt-role", description="Members with this role skip per-user limits"
    )
    async def exempt_role(
        self, interaction: discord.Interaction, action: Literal["add", "remove"], role: discord.Role
    ) -> None:
        def change(s: GuildSettings) -> GuildSettings:
            roles = without(s.exempt_role_ids, role.id)
            return replace(s, exempt_role_ids=(*roles, role.id) if action == "add" else roles)

        await _answer(interaction, await self._admin.update(_guild(interaction), change))

    @app_commands.command(name="banned", description="Block words, phrases or regular expressions")
    @app_commands.describe(
        value="A word or phrase (kind: word) or a regular expression (kind: regex)"
    )
    async def banned(
        self,
        interaction: discord.Interaction,
        action: Literal["add", "remove"],
        kind: Literal["word", "regex"],
        value: app_commands.Range[str, 1, 200],
    ) -> None:
        regex = kind == "regex"

        def change(s: GuildSettings) -> GuildSettings:
            terms = s.banned_patterns if regex else s.banned_words
            terms = (
                add_term(terms, value, regex=regex) if action == "add" else without(terms, value)
            )
            if regex:
                return replace(s, banned_patterns=terms)
            return replace(s, banned_words=terms)

        await _answer(interaction, await self._admin.update(_guild(interaction), change))

    @app_commands.command(
        name="channels", description="Where /imagine works (empty list = everywhere)"
    )
    async def channels(
        self,
        interaction: discord.Interaction,
        action: Literal["allow", "remove", "clear"],
        channel: discord.TextChannel | None = None,
    ) -> None:
        target = channel or interaction.channel
        target_id = target.id if target is not None else 0

        def change(s: GuildSettings) -> GuildSettings:
            if action == "clear":
                return replace(s, allowed_channel_ids=())
            rest = without(s.allowed_channel_ids, target_id)
            return replace(s, allowed_channel_ids=(*rest, target_id) if action == "allow" else rest)

        await _answer(interaction, await self._admin.update(_guild(interaction), change))

    @app_commands.command(
        name="default-model", description="The model /imagine uses here by default"
    )
    @app_commands.describe(model="An Oxen image model; leave empty to use the bot's default")
    async def default_model(
        self, interaction: discord.Interaction, model: str | None = None
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)  # may ask Oxen
        chosen = await self._admin.checked_model(model) if model else None
        change = await self._admin.update(
            _guild(interaction), lambda s: replace(s, default_model=chosen)
        )
        await _answer(interaction, change)

    @app_commands.command(name="spoilers", description="Hide every posted image behind a spoiler")
    async def spoilers(self, interaction: discord.Interaction, enabled: bool) -> None:
        change = await self._admin.update(
            _guild(interaction), lambda s: replace(s, spoiler_results=enabled)
        )
        await _answer(interaction, change)

    @app_commands.command(
        name="upload-edits", description="Where people may edit images they uploaded themselves"
    )
    @app_commands.describe(
        where="nsfw-channels-only: /edit of uploads works only in age-restricted channels"
    )
    async def upload_edits(
        self,
        interaction: discord.Interaction,
        where: Literal["anywhere", "nsfw-channels-only"],
    ) -> None:
        only_nsfw = where == "nsfw-channels-only"
        change = await self._admin.update(
            _guild(interaction), lambda s: replace(s, upload_edits_nsfw_only=only_nsfw)
        )
        await _answer(interaction, change)

    @app_commands.command(
        name="audit-channel", description="Log every request in a channel (empty: no log)"
    )
    @app_commands.describe(channel="Where to log requests; leave empty to stop logging")
    async def audit_channel(
        self, interaction: discord.Interaction, channel: discord.TextChannel | None = None
    ) -> None:
        if channel is not None:
            missing = missing_permissions(channel.permissions_for(channel.guild.me), files=False)
            if missing:
                raise UserFacingError(
                    f"I can't log to {channel.mention}: I'm missing "
                    + ", ".join(f"**{name}**" for name in missing)
                    + " there."
                )
        channel_id = channel.id if channel is not None else None
        change = await self._admin.update(
            _guild(interaction), lambda s: replace(s, audit_channel_id=channel_id)
        )
        await _answer(interaction, change)

    @app_commands.command(
        name="gallery", description="The server gallery: a forum or media channel for shared images"
    )
    @app_commands.describe(
        channel="The gallery: a forum or media channel (shared images get a post each)",
        nsfw_channel="An age-restricted forum or media channel, the only place for NSFW images",
        auto_share="Votes that share an image, if its creator allows it (0 = off)",
        weekly="Post the week's top images every Monday (UTC) and pin the post",
        theme="A theme: posts get the gallery's tag of that name (e.g. space)",
        create_tags="Add tags for the models (and the theme) to the gallery",
        clear="Turn off the gallery, the NSFW gallery, or the theme",
        web="A read-only web page of the shared images, at a secret link (new-link: replace it)",
    )
    async def gallery(
        self,
        interaction: discord.Interaction,
        channel: discord.abc.GuildChannel | None = None,
        nsfw_channel: discord.abc.GuildChannel | None = None,
        auto_share: app_commands.Range[int, 0, MAX_AUTO_SHARE_VOTES] | None = None,
        weekly: bool | None = None,
        theme: app_commands.Range[str, 1, 100] | None = None,
        create_tags: bool = False,
        clear: Literal["gallery", "nsfw-gallery", "theme"] | None = None,
        web: Literal["on", "off", "new-link"] | None = None,
    ) -> None:
        gallery_id = self._gallery.check_channel(channel, nsfw=False) if channel else None
        nsfw_id = self._gallery.check_channel(nsfw_channel, nsfw=True) if nsfw_channel else None
        theme_name = check_theme(theme) if theme is not None else None
        if clear == "gallery" and gallery_id is not None:
            raise UserFacingError("Give `channel:` or `clear:gallery`, not both.")
        if clear == "nsfw-gallery" and nsfw_id is not None:
            raise UserFacingError("Give `nsfw_channel:` or `clear:nsfw-gallery`, not both.")
        if clear == "theme" and theme_name is not None:
            raise UserFacingError("Give `theme:` or `clear:theme`, not both.")
        await interaction.response.defer(ephemeral=True, thinking=True)  # tags: Discord, Oxen

        def change(s: GuildSettings) -> GuildSettings:
            if clear == "gallery":
                s = replace(s, gallery_channel_id=None, gallery_nsfw_channel_id=None)
            elif clear == "nsfw-gallery":
                s = replace(s, gallery_nsfw_channel_id=None)
            elif clear == "theme":
                s = replace(s, gallery_theme=None)
            return replace(
                s,
                gallery_channel_id=gallery_id or s.gallery_channel_id,
                gallery_nsfw_channel_id=nsfw_id or s.gallery_nsfw_channel_id,
                auto_share_votes=s.auto_share_votes if auto_share is None else auto_share,
                weekly_top=s.weekly_top if weekly is None else weekly,
                gallery_theme=theme_name or s.gallery_theme,
            )

        guild = interaction.guild
        assert guild is not None  # guild_only
        lines: list[str] = []
        settings = (channel, nsfw_channel, auto_share, weekly, theme, clear)
        if web is None or create_tags or any(option is not None for option in settings):
            update = await self._admin.update(guild.id, change)
            notes = await self._gallery.settings_changed(guild, update, create_tags=create_tags)
            lines += [*update.lines(), *notes]
        if web is not None:  # alone, or with the other options
            lines += await self._web.switch(guild.id, WebChoice(web), server_name=guild.name)
        await interaction.edit_original_response(content="\n".join(lines))

    @default_model.autocomplete("model")
    async def model_autocomplete(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return await model_choices(self._catalog, current)


def _guild(interaction: discord.Interaction) -> int:
    assert interaction.guild_id is not None  # guild_only
    return interaction.guild_id


async def _answer(interaction: discord.Interaction, change: Change) -> None:
    text = "\n".join(change.lines())
    if interaction.response.is_done():
        await interaction.edit_original_response(content=text)
    else:
        await interaction.response.send_message(text, ephemeral=True)
