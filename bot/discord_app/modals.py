"""The text boxes behind Vary and Edit (and the Edit message menu), and Share's."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import discord

from bot.core.gallery import default_title
from bot.core.limits import EDIT_INSTRUCTION_MAX_CHARS, GALLERY_TITLE_MAX_CHARS, PROMPT_MAX_CHARS
from bot.core.types import ImagineRequest, Job
from bot.discord_app.flow import RequestFlow
from bot.discord_app.origin import origin_of
from bot.discord_app.tree import report_error


class _RequestModal(discord.ui.Modal):
    def __init__(self, flow: RequestFlow) -> None:
        super().__init__(timeout=600)
        self._flow = flow

    async def on_error(  # type: ignore[override]  # Modal's own signature has no item
        self, interaction: discord.Interaction, error: Exception, /
    ) -> None:
        await report_error(interaction, error, where=f"modal {type(self).__name__}")


class VaryModal(_RequestModal, title="Vary this image"):
    def __init__(self, flow: RequestFlow, job: Job) -> None:
        super().__init__(flow)
        self._job = job
        self.prompt: discord.ui.TextInput[VaryModal] = discord.ui.TextInput(
            label="Prompt",
            style=discord.TextStyle.paragraph,
            default=job.prompt[:PROMPT_MAX_CHARS],
            max_length=PROMPT_MAX_CHARS,
        )
        self.add_item(self.prompt)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        request = ImagineRequest.again(self._job, origin_of(interaction), prompt=self.prompt.value)
        await self._flow.start(interaction, request)


class EditModal(_RequestModal, title="Edit this image"):
    def __init__(
        self, flow: RequestFlow, image: str, *, upload: bool, parent_id: str | None = None
    ) -> None:
        super().__init__(flow)
        self._image = image
        self._upload = upload
        self._parent_id = parent_id  # the bot's own result being edited: its lineage
        self.instruction: discord.ui.TextInput[EditModal] = discord.ui.TextInput(
            label="What should change?",
            style=discord.TextStyle.paragraph,
            placeholder="e.g. make it night time, add a red scarf",
            max_length=EDIT_INSTRUCTION_MAX_CHARS,
        )
        self.add_item(self.instruction)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        request = ImagineRequest(
            prompt=self.instruction.value,
            origin=origin_of(interaction),
            input_image=self._image,
            input_is_upload=self._upload,
            parent_id=self._parent_id,
        )
        await self._flow.start(interaction, request)


# What Share does with the answers: the interaction, the title, and whether to show the prompt.
ShareAnswer = Callable[[discord.Interaction, str, bool], Awaitable[None]]


class ShareModal(discord.ui.Modal, title="Share to the server gallery"):
    def __init__(self, prompt: str, on_submit: ShareAnswer) -> None:
        super().__init__(timeout=600)
        self._answer = on_submit
        self.post_title: discord.ui.TextInput[ShareModal] = discord.ui.TextInput(
            style=discord.TextStyle.short,
            default=default_title(prompt),
            max_length=GALLERY_TITLE_MAX_CHARS,
            required=False,
        )
        self.show_prompt: discord.ui.Checkbox[ShareModal] = discord.ui.Checkbox(default=True)
        self.add_item(
            discord.ui.Label(
                text="Title",
                description="The gallery post's name (empty: from the prompt)",
                component=self.post_title,
            )
        )
        self.add_item(
            discord.ui.Label(
                text="Show the prompt",
                description="Unticked, the post and the gallery search keep it private",
                component=self.show_prompt,
            )
        )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await self._answer(interaction, self.post_title.value, self.show_prompt.value)

    async def on_error(  # type: ignore[override]  # Modal's own signature has no item
        self, interaction: discord.Interaction, error: Exception, /
    ) -> None:
        await report_error(interaction, error, where="modal ShareModal")
