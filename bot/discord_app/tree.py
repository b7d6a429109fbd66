"""One error funnel for every slash command: clear ephemeral words, never a traceback."""

from __future__ import annotations

import contextlib
import logging
import secrets

import discord
from discord import app_commands

from bot.core.errors import STORE_UNREACHABLE, UserFacingError
from bot.core.ports import StoreUnavailable

log = logging.getLogger(__name__)


class ImagineTree(app_commands.CommandTree[discord.Client]):
    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        cause = error.original if isinstance(error, app_commands.CommandInvokeError) else error
        where = interaction.command.qualified_name if interaction.command else "?"
        await report_error(interaction, cause, where=f"command {where}")


async def report_error(
    interaction: discord.Interaction, error: BaseException, *, where: str
) -> None:
    """Tell the person who acted what went wrong: our words for known errors, a reference id
    (also logged with the traceback) for the unexpected."""
    if isinstance(error, UserFacingError):
        text = str(error)
    elif isinstance(error, StoreUnavailable):
        log.warning("%s: the database cannot be reached (%s)", where, error.detail)
        text = STORE_UNREACHABLE
    elif isinstance(error, app_commands.CheckFailure):
        text = str(error) or "You can't use this command here."
    else:
        reference = secrets.token_hex(4)
        log.error(
            "%s failed (ref %s)", where, reference, exc_info=error,
            extra={"guild_id": interaction.guild_id, "channel_id": interaction.channel_id,
                   "user_id": interaction.user.id},
        )  # fmt: skip
        text = f"Something went wrong on my side (reference `{reference}`). Please try again."
    await send_ephemeral(interaction, text)


async def send_ephemeral(interaction: discord.Interaction, text: str) -> None:
    """Answer privately, whether or not the interaction was already acknowledged."""
    try:
        if not interaction.response.is_done():
            await interaction.response.send_message(text, ephemeral=True)
            return
        # A public "thinking…" placeholder would otherwise stay in the channel.
        if interaction.response.type == discord.InteractionResponseType.deferred_channel_message:
            with contextlib.suppress(discord.HTTPException):
                await interaction.delete_original_response()
        await interaction.followup.send(text, ephemeral=True)
    except discord.HTTPException as err:
        log.warning("could not tell the user about an error: %s", err.text)
