"""Buttons and modals on the bot's messages.

Every button is a ``discord.ui.DynamicItem`` whose custom_id carries a generation or request id,
so it keeps working after a restart: the job is looked up in the store when someone presses it.
Anyone may Reroll, Vary, Edit or ask for Info (the new job is theirs); Cancel and Delete are for
the requester and people with Manage Messages.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Protocol

import discord
from discord import app_commands

from bot import render
from bot.errors import UserFacingError
from bot.permissions import missing_post_permissions
from bot.request import ImagineRequest
from bot.tree import report_error

if TYPE_CHECKING:
    from bot.app import Services
    from bot.catalog import ModelCatalog
    from bot.store import Job

_ID = r"[0-9A-Za-z-]{1,64}"  # Oxen generation ids are UUIDs
EDIT_INSTRUCTION_MAX = 1000


class _HasServices(Protocol):
    @property
    def services(self) -> Services: ...


def services_of(interaction: discord.Interaction) -> Services:
    client: _HasServices = interaction.client  # type: ignore[assignment]
    return client.services


# --- starting a request (shared by /imagine, /edit, Reroll, Vary, Edit) -------------------------


async def start_request(interaction: discord.Interaction, request: ImagineRequest) -> None:
    """Check the channel, acknowledge, enqueue, and answer with the request's status message."""
    missing = missing_post_permissions(interaction)
    if missing:
        raise UserFacingError(
            "I can't post images in this channel: I'm missing "
            + ", ".join(f"**{name}**" for name in missing)
            + ". Ask a server admin to grant it, or use another channel."
        )
    services = services_of(interaction)
    if interaction.guild_id is None and not services.settings.allow_dms:
        raise UserFacingError("I only make images in servers, not in direct messages.")
    # Shutdown waits until the request is queued and its status message is posted and recorded.
    async with services.imagine.handling():
        # Acknowledge first: Oxen may take longer than Discord's 3 seconds to answer.
        await interaction.response.defer(thinking=True)
        await _submit_and_show(interaction, services, request)


async def _submit_and_show(
    interaction: discord.Interaction, services: Services, request: ImagineRequest
) -> None:
    accepted = await services.imagine.submit(request)
    prompt = request.prompt.strip()
    if accepted.line_position is not None:
        text = render.waiting_status(prompt, accepted.model, accepted.count, accepted.line_position)
    else:
        text = render.progress_status(
            render.Progress(prompt, accepted.model, accepted.count, position=accepted.position)
        )
    status = await interaction.edit_original_response(
        content=text,
        view=status_view(accepted.request_id),
        allowed_mentions=discord.AllowedMentions.none(),
    )
    await services.imagine.attach_status_message(accepted, status.id)
    services.status.showing(status.id, text)


def may_manage(interaction: discord.Interaction, requester_id: int) -> bool:
    """The requester, or someone trusted to manage messages in this channel."""
    if interaction.user.id == requester_id:
        return True
    return interaction.guild is not None and interaction.permissions.manage_messages


# --- views ------------------------------------------------------------------------------------


def status_view(request_id: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(CancelButton(request_id))
    return view


def result_view(generation_id: str) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for button in (RerollButton, VaryButton, EditButton, InfoButton, DeleteButton):
        view.add_item(button(generation_id))
    return view


def jobs_view(request_ids: list[str]) -> discord.ui.View:
    """A Cancel button per request, for /jobs (at most 25: Discord's component limit)."""
    view = discord.ui.View(timeout=None)
    for number, request_id in enumerate(request_ids[:25], 1):
        view.add_item(CancelButton(request_id, label=f"Cancel #{number}"))
    return view


# --- buttons ----------------------------------------------------------------------------------


class _IdButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"ib:abstract:(?P<id>$^)",  # each subclass sets its own; this one never matches
):
    """A button whose custom_id is ``ib:<action>:<id>``; errors reach the presser, ephemeral."""

    action: str = ""
    label: str = ""
    emoji: str | None = None
    style = discord.ButtonStyle.secondary

    def __init__(self, target_id: str, *, label: str | None = None) -> None:
        super().__init__(
            discord.ui.Button(
                label=label or self.label,
                emoji=self.emoji,
                style=self.style,
                custom_id=f"ib:{self.action}:{target_id}",
            )
        )
        self.target_id = target_id

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> _IdButton:
        return cls(match["id"])

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            await self.pressed(interaction)
        except Exception as err:
            await report_error(interaction, err, where=f"button {self.action}")

    async def pressed(self, interaction: discord.Interaction) -> None:
        raise NotImplementedError

    async def job(self, interaction: discord.Interaction) -> Job:
        job = await services_of(interaction).store.get(self.target_id)
        if job is None:
            raise UserFacingError("I no longer have the details of this image.")
        return job


class CancelButton(_IdButton, template=rf"ib:cancel:(?P<id>{_ID})"):
    action, label, emoji = "cancel", "Cancel", "✖️"
    style = discord.ButtonStyle.danger

    async def pressed(self, interaction: discord.Interaction) -> None:
        services = services_of(interaction)
        owner = await services.imagine.owner_of(self.target_id)
        if owner is None:
            raise UserFacingError("I no longer have this request.")
        requester_id, prompt_text = owner
        if not may_manage(interaction, requester_id):
            raise UserFacingError(
                "Only the person who asked for this image, or someone with **Manage Messages**, "
                "can cancel it."
            )
        await interaction.response.defer(ephemeral=True, thinking=True)
        cancelled = await services.imagine.cancel(self.target_id, by_user_id=interaction.user.id)
        prompt = render.quote_prompt(prompt_text)
        text = (
            f"🚫 Cancelled {prompt}."
            if cancelled
            else f"{prompt} had already finished, so there was nothing left to cancel."
        )
        await interaction.edit_original_response(content=text)  # replaces "thinking…"


class RerollButton(_IdButton, template=rf"ib:reroll:(?P<id>{_ID})"):
    action, label, emoji = "reroll", "Reroll", "🎲"

    async def pressed(self, interaction: discord.Interaction) -> None:
        job = await self.job(interaction)
        await start_request(
            interaction, ImagineRequest.again(job, interaction_context(interaction))
        )


class VaryButton(_IdButton, template=rf"ib:vary:(?P<id>{_ID})"):
    action, label, emoji = "vary", "Vary", "✏️"

    async def pressed(self, interaction: discord.Interaction) -> None:
        job = await self.job(interaction)
        await interaction.response.send_modal(VaryModal(job))


class EditButton(_IdButton, template=rf"ib:edit:(?P<id>{_ID})"):
    action, label, emoji = "edit", "Edit", "🖌️"

    async def pressed(self, interaction: discord.Interaction) -> None:
        url = image_url(interaction.message) if interaction.message else None
        if url is None:
            raise UserFacingError("I can't find the image on this message any more.")
        await interaction.response.send_modal(EditModal(url, upload=False))  # our own result


class InfoButton(_IdButton, template=rf"ib:info:(?P<id>{_ID})"):
    action, label, emoji = "info", "Info", "ℹ️"

    async def pressed(self, interaction: discord.Interaction) -> None:
        job = await self.job(interaction)
        await interaction.response.send_message(embed=render.info_embed(job), ephemeral=True)


class DeleteButton(_IdButton, template=rf"ib:delete:(?P<id>{_ID})"):
    action, label, emoji = "delete", "Delete", "🗑️"
    style = discord.ButtonStyle.danger

    async def pressed(self, interaction: discord.Interaction) -> None:
        job = await self.job(interaction)
        if not may_manage(interaction, job.requester_id):
            raise UserFacingError(
                "Only the person who asked for this image, or someone with **Manage Messages**, "
                "can delete it."
            )
        if interaction.message is None:
            raise UserFacingError("I can't find this message any more.")
        await interaction.response.send_message("🗑️ Deleted.", ephemeral=True)
        await interaction.message.delete()


DYNAMIC_ITEMS: tuple[type[_IdButton], ...] = (
    CancelButton,
    RerollButton,
    VaryButton,
    EditButton,
    InfoButton,
    DeleteButton,
)


# --- modals -----------------------------------------------------------------------------------


class _RequestModal(discord.ui.Modal):
    async def on_error(  # type: ignore[override]  # Modal's own signature has no item
        self, interaction: discord.Interaction, error: Exception, /
    ) -> None:
        await report_error(interaction, error, where=f"modal {type(self).__name__}")


class VaryModal(_RequestModal, title="Vary this image"):
    def __init__(self, job: Job) -> None:
        super().__init__(timeout=600)
        self._job = job
        self.prompt: discord.ui.TextInput[VaryModal] = discord.ui.TextInput(
            label="Prompt",
            style=discord.TextStyle.paragraph,
            default=job.prompt[:1500],
            max_length=1500,
        )
        self.add_item(self.prompt)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        request = ImagineRequest.again(
            self._job, interaction_context(interaction), prompt=self.prompt.value
        )
        await start_request(interaction, request)


class EditModal(_RequestModal, title="Edit this image"):
    def __init__(self, image: str, *, upload: bool) -> None:
        super().__init__(timeout=600)
        self._image = image
        self._upload = upload
        self.instruction: discord.ui.TextInput[EditModal] = discord.ui.TextInput(
            label="What should change?",
            style=discord.TextStyle.paragraph,
            placeholder="e.g. make it night time, add a red scarf",
            max_length=EDIT_INSTRUCTION_MAX,
        )
        self.add_item(self.instruction)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        request = ImagineRequest(
            prompt=self.instruction.value,
            input_image=self._image,
            input_is_upload=self._upload,
            **interaction_context(interaction),
        )
        await start_request(interaction, request)


# --- helpers ----------------------------------------------------------------------------------


def interaction_context(interaction: discord.Interaction) -> dict[str, Any]:
    """Where a new request comes from: who asked, where to post, how large an upload may be."""
    return {
        "guild_id": interaction.guild_id,
        "channel_id": interaction.channel_id or 0,
        "requester_id": interaction.user.id,
        "upload_limit": interaction.filesize_limit,
        "role_ids": tuple(role.id for role in getattr(interaction.user, "roles", ())),
        "channel_nsfw": is_nsfw(interaction.channel),
    }


def is_nsfw(channel: object) -> bool:
    """Age-restricted channel (a thread inherits its parent's setting); DMs are not."""
    check = getattr(channel, "is_nsfw", None)
    return bool(check()) if callable(check) else False


async def model_choices(
    catalog: ModelCatalog, typed: str, *, edit_only: bool = False
) -> list[app_commands.Choice[str]]:
    """Autocomplete for a `model` option."""
    return [
        app_commands.Choice(name=label, value=model_id)
        for label, model_id in await catalog.suggest(typed, edit_only=edit_only)
    ]


def image_url(message: discord.Message) -> str | None:
    """The first image on a message: an image attachment, else an embed's image."""
    for attachment in message.attachments:
        if is_image_attachment(attachment):
            return attachment.url
    for embed in message.embeds:
        if embed.image and embed.image.url and embed.image.url.startswith("http"):
            return embed.image.url
    return None


IMAGE_TYPES = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WebP", "image/gif": "GIF"}
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif")


def is_image_attachment(attachment: discord.Attachment) -> bool:
    if attachment.content_type:
        return attachment.content_type.split(";")[0].strip().lower() in IMAGE_TYPES
    return attachment.filename.lower().endswith(_IMAGE_SUFFIXES)
