"""Where an interaction comes from, as the core's typed Origin."""

from __future__ import annotations

import discord

from bot.core.types import Origin


def origin_of(interaction: discord.Interaction) -> Origin:
    """Who asked, where to post, how large an upload may be, and what the channel allows."""
    roles = getattr(interaction.user, "roles", ())  # a Member has roles; a User (DMs) none
    return Origin(
        guild_id=interaction.guild_id,
        channel_id=interaction.channel_id or 0,
        requester_id=interaction.user.id,
        upload_limit=interaction.filesize_limit,
        role_ids=tuple(role.id for role in roles),
        channel_nsfw=is_nsfw(interaction.channel),
    )


def is_nsfw(channel: object) -> bool:
    """Age-restricted channel (a thread inherits its parent's setting); DMs are not."""
    check = getattr(channel, "is_nsfw", None)
    return bool(check()) if callable(check) else False
