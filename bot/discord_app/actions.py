"""What each button does when pressed. Anyone may Reroll, Vary, Edit or ask for Info (the new
job is theirs); Cancel and Delete are for the requester and people with Manage Messages. Share,
⭐, Withdraw and Hide are the gallery's (bot.discord_app.gallery). An image in a message of
several has one button there, ⚙️ Image N, which shows the presser that image's buttons; Delete
among them takes only that image out of the message."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import discord

from bot.core.errors import UserFacingError
from bot.core.imagine import ImagineService
from bot.core.ports import JobRepository
from bot.core.types import ImagineRequest, Job
from bot.discord_app import render
from bot.discord_app.attachments import image_url
from bot.discord_app.buttons import Action
from bot.discord_app.flow import RequestFlow
from bot.discord_app.gallery import Gallery
from bot.discord_app.modals import EditModal, VaryModal
from bot.discord_app.origin import origin_of
from bot.discord_app.results import ResultMessages

_ONLY_REQUESTER = (
    "Only the person who asked for this image, or someone with **Manage Messages**, can {}."
)


def may_manage(interaction: discord.Interaction, requester_id: int) -> bool:
    """The requester, or someone trusted to manage messages in this channel."""
    if interaction.user.id == requester_id:
        return True
    return interaction.guild is not None and interaction.permissions.manage_messages


class ButtonActions:
    def __init__(
        self,
        flow: RequestFlow,
        imagine: ImagineService,
        jobs: JobRepository,
        gallery: Gallery,
        results: ResultMessages,
    ) -> None:
        self._flow = flow
        self._imagine = imagine
        self._jobs = jobs
        self._gallery = gallery
        self._results = results
        self._handlers: dict[Action, Callable[[discord.Interaction, str], Awaitable[None]]] = {
            Action.CANCEL: self.cancel,
            Action.REROLL: self.reroll,
            Action.VARY: self.vary,
            Action.EDIT: self.edit,
            Action.INFO: self.info,
            Action.DELETE: self.delete,
            Action.SHARE: gallery.share_pressed,
            Action.VOTE: gallery.vote_pressed,
            Action.WITHDRAW: gallery.withdraw_pressed,
            Action.HIDE: gallery.hide_pressed,
            Action.ACTIONS: self.image_actions,
        }

    async def press(self, interaction: discord.Interaction, action: Action, target: str) -> None:
        await self._handlers[action](interaction, target)

    async def cancel(self, interaction: discord.Interaction, request_id: str) -> None:
        owner = await self._imagine.owner_of(request_id)
        if owner is None:
            raise UserFacingError("I no longer have this request.")
        requester_id, prompt_text = owner
        if not may_manage(interaction, requester_id):
            raise UserFacingError(_ONLY_REQUESTER.format("cancel it"))
        await interaction.response.defer(ephemeral=True, thinking=True)
        cancelled = await self._imagine.cancel(request_id, by_user_id=interaction.user.id)
        prompt = render.quote_prompt(prompt_text)
        text = (
            f"🚫 Cancelled {prompt}."
            if cancelled
            else f"{prompt} had already finished, so there was nothing left to cancel."
        )
        await interaction.edit_original_response(content=text)  # replaces "thinking…"

    async def reroll(self, interaction: discord.Interaction, generation_id: str) -> None:
        job = await self._job(generation_id)
        await self._flow.start(interaction, ImagineRequest.again(job, origin_of(interaction)))

    async def vary(self, interaction: discord.Interaction, generation_id: str) -> None:
        job = await self._job(generation_id)
        await interaction.response.send_modal(VaryModal(self._flow, job))

    async def edit(self, interaction: discord.Interaction, generation_id: str) -> None:
        job = await self._job(generation_id)
        # This image's file: on the message pressed, or (pressed among an image's buttons
        # opened from a message of several) on its result message.
        found = await self._results.image(job, interaction.message)
        url = found.url if found is not None else None
        if url is None and interaction.message is not None:
            url = image_url(interaction.message)  # e.g. a result posted before file names
        if url is None:
            raise UserFacingError("I can't find the image on this message any more.")
        # upload=False: the image is one of the bot's own results, and the new one remixes it.
        modal = EditModal(self._flow, url, upload=False, parent_id=generation_id)
        await interaction.response.send_modal(modal)

    async def info(self, interaction: discord.Interaction, generation_id: str) -> None:
        # With the remix lineage; on a gallery post, without a prompt its creator kept private.
        await self._gallery.info(interaction, generation_id)

    async def delete(self, interaction: discord.Interaction, generation_id: str) -> None:
        job = await self._job(generation_id)
        if not may_manage(interaction, job.requester_id):
            raise UserFacingError(_ONLY_REQUESTER.format("delete it"))
        if interaction.message is None:
            raise UserFacingError("I can't find this message any more.")
        if interaction.message.id == job.result_message_id or job.result_message_id is None:
            # Pressed on the image's own message (it holds just this image).
            await interaction.response.send_message("🗑️ Deleted.", ephemeral=True)
            await interaction.message.delete()
        else:
            # Pressed among its buttons opened from a message of several: only this image goes.
            await interaction.response.edit_message(content="🗑️ Deleted.", view=None)
            await self._results.remove_image(job)
        await self._gallery.original_deleted(job, by_user_id=interaction.user.id)

    async def image_actions(self, interaction: discord.Interaction, generation_id: str) -> None:
        """⚙️ Image N on a message of several: that image's buttons, for the presser only."""
        await self._results.actions(interaction, await self._job(generation_id))

    async def _job(self, generation_id: str) -> Job:
        job = await self._jobs.get(generation_id)
        if job is None:
            raise UserFacingError("I no longer have the details of this image.")
        return job
