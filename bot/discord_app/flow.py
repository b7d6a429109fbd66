"""The request flow on Discord's side, shared by /imagine, /edit, Reroll, Vary and Edit: check the
channel, acknowledge within Discord's 3 seconds, hand the request to the core, and turn the
"thinking…" reply into the request's status message. The interaction (its token) is remembered in
memory for the outbox, which may send the request's status edits and results on its bucket while
the token is valid."""

from __future__ import annotations

import discord

from bot.core.errors import UserFacingError
from bot.core.imagine import ImagineService
from bot.core.log_context import log_context
from bot.core.types import ImagineRequest
from bot.discord_app import render
from bot.discord_app.buttons import Buttons
from bot.discord_app.interaction_routes import InteractionRoutes
from bot.discord_app.permissions import missing_post_permissions
from bot.discord_app.status import StatusMessages


class RequestFlow:
    def __init__(
        self,
        imagine: ImagineService,
        status: StatusMessages,
        buttons: Buttons,
        routes: InteractionRoutes,
        *,
        allow_dms: bool,
    ) -> None:
        self._imagine = imagine
        self._status = status
        self._buttons = buttons
        self._routes = routes
        self._allow_dms = allow_dms

    async def start(self, interaction: discord.Interaction, request: ImagineRequest) -> None:
        # Every line logged while this request is handled says whose and where it is.
        with log_context(
            guild_id=interaction.guild_id,
            channel_id=interaction.channel_id,
            user_id=interaction.user.id,
        ):
            await self._start(interaction, request)

    async def _start(self, interaction: discord.Interaction, request: ImagineRequest) -> None:
        missing = missing_post_permissions(interaction)
        if missing:
            raise UserFacingError(
                "I can't post images in this channel: I'm missing "
                + ", ".join(f"**{name}**" for name in missing)
                + ". Ask a server admin to grant it, or use another channel."
            )
        if interaction.guild_id is None and not self._allow_dms:
            raise UserFacingError("I only make images in servers, not in direct messages.")
        # Shutdown waits until the request is queued and its status message posted and recorded.
        async with self._imagine.handling():
            # Acknowledge first: Oxen may take longer than Discord's 3 seconds to answer.
            await interaction.response.defer(thinking=True)
            await self._submit_and_show(interaction, request)

    async def _submit_and_show(
        self, interaction: discord.Interaction, request: ImagineRequest
    ) -> None:
        accepted = await self._imagine.submit(request)
        prompt = request.prompt.strip()
        if accepted.place is not None:
            text = render.waiting_status(prompt, accepted.model, accepted.count, accepted.place)
        else:
            text = render.progress_status(
                render.Progress(prompt, accepted.model, accepted.count, position=accepted.position)
            )
        status = await interaction.edit_original_response(
            content=text,
            view=self._buttons.status_view(accepted.request_id),
            allowed_mentions=discord.AllowedMentions.none(),
        )
        self._routes.remember(status.id, interaction)
        await self._imagine.attach_status_message(accepted, status.id)
        self._status.showing(status.id, text)
