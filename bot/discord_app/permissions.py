"""What the bot needs in a channel to post results, checked before anyone is charged."""

from __future__ import annotations

import discord

# Permission names as a server admin sees them in Discord's settings.
_NEEDED: tuple[tuple[str, str], ...] = (
    ("view_channel", "View Channel"),
    ("send_messages", "Send Messages"),
    ("embed_links", "Embed Links"),
    ("attach_files", "Attach Files"),
)

# The invite URL asks for these (README): the ones above plus Read Message History (replies) and
# Send Messages in Threads.
INVITE_PERMISSIONS = discord.Permissions(
    view_channel=True,
    send_messages=True,
    send_messages_in_threads=True,
    embed_links=True,
    attach_files=True,
    read_message_history=True,
)


def missing_post_permissions(interaction: discord.Interaction) -> list[str]:
    """Names of the permissions the bot lacks in the interaction's channel."""
    return missing_permissions(
        interaction.app_permissions, in_thread=isinstance(interaction.channel, discord.Thread)
    )


def missing_permissions(
    perms: discord.Permissions, *, in_thread: bool = False, files: bool = True
) -> list[str]:
    """Names of the posting permissions missing from ``perms`` (``files``: images too)."""
    missing = []
    for attribute, label in _NEEDED:
        if attribute == "attach_files" and not files:
            continue
        if attribute == "send_messages" and in_thread:
            attribute, label = "send_messages_in_threads", "Send Messages in Threads"
        if not getattr(perms, attribute):
            missing.append(label)
    return missing


# What the bot needs in a gallery (a forum or media channel): posting a post is Send Messages
# there; Manage Threads hides (archive and lock), deletes withdrawn posts and pins the weekly one.
_GALLERY_NEEDED: tuple[tuple[str, str], ...] = (
    ("view_channel", "View Channel"),
    ("send_messages", "Send Messages"),
    ("attach_files", "Attach Files"),
    ("embed_links", "Embed Links"),
    ("manage_threads", "Manage Threads"),
)


def missing_gallery_permissions(perms: discord.Permissions, *, tags: bool = False) -> list[str]:
    """Names of what the bot lacks in a gallery (``tags``: also Manage Channels, to add tags)."""
    needed = _GALLERY_NEEDED + ((("manage_channels", "Manage Channels"),) if tags else ())
    return [label for attribute, label in needed if not getattr(perms, attribute)]
