"""The bot's result messages after they are posted: one image (its seven buttons on the message)
or several (a ⚙️ Image N button each, opening that image's buttons only for the presser).

What the buttons need from them: whether a message holds several images (the ⭐ label of an
image in such a message lives in its own buttons, shown fresh when opened, not on the message),
an image's file among a message's attachments, and taking one image out of a message of several
(its attachment, embed and button; the message goes when it was the last).
"""

from __future__ import annotations

import logging

import discord

from bot.core.errors import UserFacingError
from bot.core.ports import Store
from bot.core.types import Job
from bot.discord_app import render
from bot.discord_app.attachments import is_image_attachment
from bot.discord_app.buttons import Buttons
from bot.discord_app.combined import (
    ACTIONS_ID_PREFIX,
    action_buttons,
    embed_generation,
    images_content,
    is_file_of,
)
from bot.discord_app.outbox import Outbox
from bot.discord_app.posts import Edit, EditOutcome

log = logging.getLogger(__name__)


class ResultMessages:
    def __init__(
        self, client: discord.Client, store: Store, buttons: Buttons, outbox: Outbox
    ) -> None:
        self._client = client
        self._store = store
        self._buttons = buttons
        self._outbox = outbox

    async def fetch(self, job: Job) -> discord.Message | None:
        if job.result_message_id is None:
            return None
        channel = self._client.get_partial_messageable(job.channel_id, guild_id=job.guild_id)
        try:
            return await channel.fetch_message(job.result_message_id)
        except discord.HTTPException:
            return None

    async def holds_several(self, job: Job) -> bool:
        """Whether the job's result message holds several images (asked of Discord once after
        a restart, then remembered)."""
        if job.result_message_id is None:
            return False
        known = self._outbox.layout(job.result_message_id)
        if known is not None:
            return known
        message = await self.fetch(job)
        if message is None:
            return False
        several = _has_image_buttons(message)
        self._outbox.remember_layout(message.id, several)
        return several

    def relabel(self, job: Job, view: discord.ui.View) -> None:
        """New buttons (a ⭐ count, Share or Withdraw) on the job's message of one image, when
        its channel's edit bucket has room (coalesced with any edit of it still waiting)."""
        if job.result_message_id is not None:
            edit = Edit(job.channel_id, job.guild_id, job.result_message_id, {"view": view})
            edit.final = True  # a count is never dropped, only merged into a newer one
            self._outbox.edit(edit)

    async def image(
        self, job: Job, pressed_on: discord.Message | None = None
    ) -> discord.Attachment | None:
        """The job's image file: on the message pressed, else on its result message."""
        if pressed_on is not None:
            found = _file_of(pressed_on, job.generation_id)
            if found is not None or pressed_on.id == job.result_message_id:
                return found
        message = await self.fetch(job)
        return _file_of(message, job.generation_id) if message is not None else None

    async def actions(self, interaction: discord.Interaction, job: Job) -> None:
        """⚙️ Image N: that image's own buttons, for the presser only."""
        votes = await self._store.gallery.votes(job.generation_id)
        shared = await self._store.gallery.get(job.generation_id) is not None
        view = self._buttons.result_view(job.generation_id, votes=votes, shared=shared)
        content = (
            f"Image for <@{job.requester_id}>: {render.quote_prompt(job.prompt, 150)}"
            f"{_position(job)}"
        )
        await interaction.response.send_message(
            content,
            view=view,
            ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )

    async def remove_image(self, job: Job) -> None:
        """Take the job's image out of its result message; delete the message if it was the
        last image there."""
        message = await self.fetch(job)
        if message is None:
            return  # already gone
        gid = job.generation_id
        kept_files = [a for a in message.attachments if not is_file_of(a, gid)]
        kept_embeds = [e for e in message.embeds if embed_generation(e) != gid]
        others = [g for e in kept_embeds if (g := embed_generation(e)) is not None]
        if not others or not _has_image_buttons(message):
            await message.delete()
            return
        requesters = []
        for other in others:
            found = await self._store.jobs.get(other)
            if found is not None:
                requesters.append(found.requester_id)
        view = self._buttons.combined_view(
            [(label, g) for label, g in action_buttons(message) if g != gid]
        )
        fields = {"attachments": kept_files, "embeds": kept_embeds, "view": view}
        if requesters:
            fields["content"] = images_content(requesters)
        outcome = await self._outbox.edit_now(
            Edit(message.channel.id, job.guild_id, message.id, fields)
        )
        if outcome is EditOutcome.FAILED:
            raise UserFacingError("Discord didn't let me take the image out; try again soon.")


def _has_image_buttons(message: discord.Message) -> bool:
    return any(
        (getattr(child, "custom_id", None) or "").startswith(ACTIONS_ID_PREFIX)
        for row in message.components
        for child in getattr(row, "children", ())
    )


def _file_of(message: discord.Message, generation_id: str) -> discord.Attachment | None:
    for attachment in message.attachments:
        if is_file_of(attachment, generation_id) and is_image_attachment(attachment):
            return attachment
    return None


def _position(job: Job) -> str:
    return f" (image {job.batch_index + 1} of {job.batch_size})" if job.batch_size > 1 else ""
